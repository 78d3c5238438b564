package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invigil/invigil/client/launch"
)

const testKey = "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

func TestWriteMachineConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Invigil", "config.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"server":"https://old.example"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := runWriteMachineConfig(context.Background(), []string{"--path", path,
		"--server", " HTTPS://Proctor.Example.EDU/ ", "--server-key", testKey, "--only-server", "1"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := launch.ParseManagedConfig(b)
	if err != nil {
		t.Fatalf("the client cannot read what was written: %v\n%s", err, b)
	}
	want := launch.ManagedConfig{Server: "https://proctor.example.edu", ServerKey: testKey, OnlyServer: true}
	if m != want {
		t.Errorf("got %+v, want %+v", m, want)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "Invigil", ".config-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestWriteMachineConfigRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing", nil, "nothing to write"},
		{"empty properties", []string{"--server", "", "--server-key", "", "--only-server", ""}, "nothing to write"},
		{"bad server", []string{"--server", "ftp://x.example"}, "--server"},
		{"placeholder key", []string{"--server", "https://p.example", "--server-key", "ed25519:REPLACE-ME="}, "--server-key"},
		{"only without server", []string{"--server-key", testKey, "--only-server", "1"}, "needs --server"},
		{"only garbage", []string{"--server", "https://p.example", "--only-server", "maybe"}, "--only-server"},
		{"stray argument", []string{"--server", "https://p.example", "x"}, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.json")
			var out, errb bytes.Buffer
			code := runWriteMachineConfig(context.Background(), append([]string{"--path", path}, tc.args...), &out, &errb)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Errorf("stderr %q, want it to mention %q", errb.String(), tc.want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("a refused configuration was written (%v)", err)
			}
		})
	}
}

func TestRemoveMachineConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Invigil")
	path := filepath.Join(dir, "config.json")
	var out, errb bytes.Buffer
	if code := runWriteMachineConfig(context.Background(), []string{"--path", path, "--server", "https://p.example"}, &out, &errb); code != exitOK {
		t.Fatalf("write: exit %d, %s", code, errb.String())
	}
	for i := range 2 { // the second time there is nothing left to remove: still fine
		if code := runRemoveMachineConfig(context.Background(), []string{"--path", path}, &out, &errb); code != exitOK {
			t.Fatalf("remove #%d: exit %d, %s", i+1, code, errb.String())
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the emptied folder is still there (%v)", err)
	}
	// A folder with someone else's file in it stays.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := runRemoveMachineConfig(context.Background(), []string{"--path", path}, &out, &errb); code != exitOK {
		t.Fatalf("remove: exit %d, %s", code, errb.String())
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another file in the folder went: %v", err)
	}
}
