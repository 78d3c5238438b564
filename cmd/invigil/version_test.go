package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/invigil/invigil/client/exam"
)

func TestBuildCommit(t *testing.T) {
	vcs := func(kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{}
		for i := 0; i < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	for _, c := range []struct {
		name    string
		info    *debug.BuildInfo
		ok      bool
		stamped string
		want    string
	}{
		{"vcs", vcs("vcs", "git", "vcs.revision", "abc123", "vcs.modified", "false"), true, "", "abc123"},
		{"vcs dirty", vcs("vcs.revision", "abc123", "vcs.modified", "true"), true, "", "abc123-dirty"},
		{"vcs wins over the stamp", vcs("vcs.revision", "abc123"), true, "def456", "abc123"},
		{"stamp without vcs", vcs("-buildvcs", "false"), true, "def456-dirty", "def456-dirty"},
		{"no build info", nil, false, "def456", "def456"},
		{"nothing", vcs(), true, "", "unknown"},
	} {
		if got := buildCommit(c.info, c.ok, c.stamped); got != c.want {
			t.Errorf("%s: buildCommit = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	var out, errs bytes.Buffer
	if code := dispatch(context.Background(), []string{"version", "--json"}, &out, &errs); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	var v versionInfo
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if v.Version != exam.Version || v.OS != runtime.GOOS || v.Arch != runtime.GOARCH || v.Go != runtime.Version() || v.Commit == "" {
		t.Errorf("version --json = %+v", v)
	}
}

// TestVersionStampedByBuildScripts builds the client the way the build
// scripts do (scripts/build-stamp.sh's -ldflags) and checks that `invigil
// version` names this checkout's commit and the platform.
func TestVersionStampedByBuildScripts(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v (the tests run in a git checkout)", err)
	}
	rev := strings.TrimSpace(string(head))
	stamp, err := exec.Command("../../scripts/build-stamp.sh").Output()
	if err != nil {
		t.Fatalf("build-stamp.sh: %v", err)
	}
	if !strings.Contains(string(stamp), "-X main.commit="+rev) {
		t.Fatalf("build-stamp.sh printed %q, want the commit %s", stamp, rev)
	}
	bin := filepath.Join(t.TempDir(), "invigil")
	if out, err := exec.Command("go", "build", "-ldflags", strings.TrimSpace(string(stamp)), "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "invigil " + exam.Version + " (" + runtime.GOOS + "/" + runtime.GOARCH + ", " + runtime.Version() + ", commit " + rev
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("invigil version = %q, want it to start with %q", out, want)
	}
}
