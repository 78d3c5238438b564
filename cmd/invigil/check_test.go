package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invigil/invigil/assets"
	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/lockdown/lockdowntest"
	"github.com/invigil/invigil/lockdown/policy"
)

// The test binary doubles as a helper that listens on a VNC port (re-exec
// with INVIGIL_CHECK_HELPER=listen). An init function, not TestMain, so the
// package stays free to add one.
func init() {
	if os.Getenv("INVIGIL_CHECK_HELPER") == "listen" {
		lockdowntest.ListenVNC()
	}
}

func startCmd(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

func copySleep(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	path, sum, err := lockdowntest.CopySleep(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return path, sum
}

func run(t *testing.T, cmd string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), append([]string{cmd}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// TestCheckCommand: `invigil check` flags a prohibited name, a renamed copy
// matched by hash and a VNC-port listener, and exits exitCheckFailed.
func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	anydesk, sum := copySleep(t, dir, "anydesk")
	innocent, _ := copySleep(t, dir, "backup-agent")
	named := exec.Command(anydesk, "60")
	renamed := exec.Command(innocent, "60")
	startCmd(t, named)
	startCmd(t, renamed)
	lis := exec.Command(os.Args[0], "-test.run=^$")
	lis.Env = append(os.Environ(), "INVIGIL_CHECK_HELPER=listen")
	port, err := lockdowntest.StartListener(lis)
	if err != nil {
		t.Fatalf("listener helper: %v", err)
	}
	t.Cleanup(func() { lis.Process.Kill(); lis.Wait() })

	p := policy.Default()
	p.Processes.Prohibited = append(p.Processes.Prohibited, policy.ProcessRule{
		ID: "portable-tool", Name: "Portable remote tool", Category: "remote_access", SHA256: []string{sum}, Action: policy.Block})
	b, _ := json.Marshal(p)
	polFile := filepath.Join(dir, "policy.json")
	os.WriteFile(polFile, b, 0o644)

	code, stdout, stderr := run(t, "check", "--policy", polFile, "--json")
	if code != exitCheckFailed {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitCheckFailed, stderr)
	}
	var got struct {
		Policy policyInfo      `json:"policy"`
		Report lockdown.Report `json:"report"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	wantKey, _ := policy.ConfigKey(b)
	if got.Policy.ConfigKey != wantKey || got.Policy.Signed {
		t.Errorf("policy info %+v, want config key %s, unsigned", got.Policy, wantKey)
	}
	flagged := map[int32]string{}
	for _, c := range got.Report.Checks {
		for _, f := range c.Processes {
			flagged[f.PID] = c.ID + "/" + f.Reason
		}
	}
	for pid, want := range map[int]string{
		named.Process.Pid:   lockdown.CheckProcesses + "/name",
		renamed.Process.Pid: lockdown.CheckProcesses + "/sha256",
		lis.Process.Pid:     lockdown.CheckRemotePorts + "/port",
	} {
		if flagged[int32(pid)] != want {
			t.Errorf("pid %d flagged as %q, want %q", pid, flagged[int32(pid)], want)
		}
	}

	// The text report tells what to fix.
	code, stdout, _ = run(t, "check", "--policy", polFile)
	for _, want := range []string{
		"[FAIL] Prohibited programs",
		fmt.Sprintf("-> Close AnyDesk (pid %d)", named.Process.Pid),
		fmt.Sprintf("listens on port %d (VNC)", port),
		"Result: FAIL",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text report lacks %q:\n%s", want, stdout)
		}
	}
	if code != exitCheckFailed {
		t.Errorf("text mode exit %d", code)
	}
}

func TestCheckSignedPolicy(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := policy.Sign(priv, assets.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(s)
	goodFile := filepath.Join(dir, "signed.json")
	os.WriteFile(goodFile, good, 0o644)
	key := policy.FormatPublicKey(pub)

	// Verified: no warning; the exit code is the check's, not a policy error.
	code, stdout, stderr := run(t, "check", "--policy", goodFile, "--key", key)
	if code == exitBadPolicy || strings.Contains(stderr, "UNVERIFIED") || !strings.Contains(stdout, "signature verified") {
		t.Errorf("verified policy: exit %d, stderr %q", code, stderr)
	}
	// Signed, no key: used, and said to be unverified.
	code, _, stderr = run(t, "check", "--policy", goodFile)
	if code == exitBadPolicy || !strings.Contains(stderr, "UNVERIFIED") {
		t.Errorf("unverified policy: exit %d, stderr %q", code, stderr)
	}
	// One byte changed: refused with a clear message.
	i := bytes.Index(good, []byte(`"max":1`))
	if i < 0 {
		t.Fatalf("no max in %s", good)
	}
	bad := bytes.Clone(good)
	bad[i+len(`"max":`)] = '2'
	badFile := filepath.Join(dir, "tampered.json")
	os.WriteFile(badFile, bad, 0o644)
	code, _, stderr = run(t, "check", "--policy", badFile, "--key", key)
	if code != exitBadPolicy || !strings.Contains(stderr, "signature does not verify") || !strings.Contains(stderr, "refused") {
		t.Errorf("tampered policy: exit %d, stderr %q; want %d and a clear message", code, stderr, exitBadPolicy)
	}
	// Another backend's key.
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	code, _, stderr = run(t, "check", "--policy", goodFile, "--key", policy.FormatPublicKey(other))
	if code != exitBadPolicy || !strings.Contains(stderr, "signed by key") {
		t.Errorf("wrong key: exit %d, stderr %q", code, stderr)
	}
	// A bare policy when a signed one is required.
	bare := filepath.Join(dir, "bare.json")
	os.WriteFile(bare, assets.DefaultPolicy, 0o644)
	if code, _, _ := run(t, "check", "--policy", bare, "--key", key); code != exitBadPolicy {
		t.Errorf("bare policy with --key: exit %d", code)
	}
	// An invalid policy names the problem.
	invalid := filepath.Join(dir, "invalid.json")
	os.WriteFile(invalid, []byte(`{"version":1,"displays":{"max":0}}`), 0o644)
	if code, _, stderr := run(t, "check", "--policy", invalid); code != exitBadPolicy || !strings.Contains(stderr, "displays.max") {
		t.Errorf("invalid policy: exit %d, stderr %q", code, stderr)
	}
}

func TestCheckUsage(t *testing.T) {
	if code, _, _ := run(t, "check", "--nope"); code != exitUsage {
		t.Errorf("bad flag: exit %d", code)
	}
	if code, _, _ := run(t, "check", "extra"); code != exitUsage {
		t.Errorf("extra argument: exit %d", code)
	}
	if code, _, _ := run(t, "check", "--policy", "/no/such/file"); code != exitBadPolicy {
		t.Errorf("missing file: exit %d", code)
	}
}

// TestCheckListsCameras: the check command asks the capture layer for the
// cameras, as the app's check does, so a virtual camera is named; before,
// it always said "the camera list was not available".
func TestCheckListsCameras(t *testing.T) {
	code, out, errs := run(t, "check", "--json", "--policy", "testdata/quiet-policy.json")
	var rep struct {
		Report lockdown.Report `json:"report"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d: %v\n%s\n%s", code, err, out, errs)
	}
	for _, c := range rep.Report.Checks {
		if c.ID == lockdown.CheckCamera {
			if c.Error == "no camera list from the capture layer" {
				t.Errorf("the check ran without the camera list: %+v", c)
			}
			return
		}
	}
	t.Errorf("no %s check in %s", lockdown.CheckCamera, out)
}
