package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigShow: `invigil config show` prints each key's value and where
// it came from (file, environment, flag, default), as text and as JSON.
func TestConfigShow(t *testing.T) {
	dir := t.TempDir()
	configMachinePath = filepath.Join(dir, "machine-none.json")
	t.Cleanup(func() { configMachinePath = "" })
	user := filepath.Join(dir, "user.json")
	if err := os.WriteFile(user, []byte(`{"server": "https://proctor.example.edu", "journal_path": "/j/journal.json"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("INVIGIL_SPOOL_DIR", "/env/spool")
	t.Setenv("INVIGIL_SERVER", "")
	t.Setenv("INVIGIL_SERVER_KEY", "")
	t.Setenv("INVIGIL_CONFIG", "")
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"config", "show", "--config", user, "--camera", "test"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	text := out.String()
	for _, want := range []string{
		"machine file: " + configMachinePath + " (absent)",
		"server        https://proctor.example.edu",
		"file " + user,
		"/env/spool",
		"environment INVIGIL_SPOOL_DIR",
		"flag --camera",
		"(none: unpinned)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	out.Reset()
	if code := dispatch(context.Background(), []string{"config", "show", "--json", "--config", user}, &out, &errb); code != exitOK {
		t.Fatalf("--json exit %d: %s", code, errb.String())
	}
	var got configShow
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	byKey := map[string]configKeyShow{}
	for _, k := range got.Keys {
		byKey[k.Key] = k
	}
	if k := byKey["server"]; k.Value != "https://proctor.example.edu" || k.Source != "file" || k.Name != user || k.Locked {
		t.Errorf("server: %+v", k)
	}
	if k := byKey["spool_dir"]; k.Value != "/env/spool" || k.Source != "env" || k.Name != "INVIGIL_SPOOL_DIR" {
		t.Errorf("spool_dir: %+v", k)
	}
	if k := byKey["only_server"]; k.Value != false || k.Source != "unset" {
		t.Errorf("only_server: %+v", k)
	}
	if got.MachineFilePresent || len(got.Keys) != 7 {
		t.Errorf("%+v", got)
	}
	// A configuration that does not load is reported, not shown.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"server_kee": "x"}`), 0o644)
	errb.Reset()
	if code := dispatch(context.Background(), []string{"config", "show", "--config", bad}, &out, &errb); code != exitConfig || !strings.Contains(errb.String(), "server_kee") {
		t.Errorf("bad file: exit %d, %q", code, errb.String())
	}
	if code := dispatch(context.Background(), []string{"config"}, &out, &errb); code != exitUsage {
		t.Errorf("config without show: exit %d", code)
	}
}

// TestConfigShowAside: `config show` lists the folders of earlier sessions
// kept next to the spool, with what they hold.
func TestConfigShowAside(t *testing.T) {
	dir := t.TempDir()
	configMachinePath = filepath.Join(dir, "machine-none.json")
	t.Cleanup(func() { configMachinePath = "" })
	t.Setenv("INVIGIL_CONFIG", "")
	spool := filepath.Join(dir, "spool")
	kept := spool + ".kept-s_1"
	os.MkdirAll(kept, 0o700)
	os.WriteFile(filepath.Join(kept, "00000000000000000001.seg"), make([]byte, 2000), 0o600)
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"config", "show", "--spool", spool}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), kept) || !strings.Contains(out.String(), "1 segment files") || !strings.Contains(out.String(), "may not have been uploaded") {
		t.Errorf("output:\n%s", out.String())
	}
	out.Reset()
	if code := dispatch(context.Background(), []string{"config", "show", "--json", "--spool", spool}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got configShow
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Aside) != 1 || got.Aside[0].Dir != kept || got.Aside[0].Segments != 1 || got.Aside[0].Kind != "kept" {
		t.Errorf("aside %+v", got.Aside)
	}
}

// TestResetFindsConfiguredJournal: `invigil reset` looks for the journal
// where `invigil run` writes it when the configuration names one.
func TestResetFindsConfiguredJournal(t *testing.T) {
	dir := t.TempDir()
	configMachinePath = filepath.Join(dir, "machine-none.json")
	t.Cleanup(func() { configMachinePath = "" })
	journal := filepath.Join(dir, "j", "journal.json")
	cfg := filepath.Join(dir, "config.json")
	os.WriteFile(cfg, []byte(`{"journal_path": "`+filepath.ToSlash(journal)+`"}`), 0o644)
	t.Setenv("INVIGIL_CONFIG", cfg)
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"reset"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), journal) {
		t.Errorf("reset did not look at %s:\n%s%s", journal, out.String(), errb.String())
	}
}
