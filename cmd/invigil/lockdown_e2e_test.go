package main

// End-to-end lockdown tests: a headless run against the real backend, real
// processes started while it runs, and the violations read back from the
// backend's admin API with the time they took to get there.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/backend"
	"github.com/invigil/invigil/capture/xvfb/xvfbtest"
	"github.com/invigil/invigil/lockdown/lockdowntest"
)

// adminClient reads a backend's admin API.
type adminClient struct {
	base, token string
}

func newAdmin(t *testing.T, be *backendProc) adminClient {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(be.data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return adminClient{base: be.url(), token: strings.TrimSpace(string(tok))}
}

func (a adminClient) get(t *testing.T, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", a.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func (a adminClient) command(t *testing.T, session, command string) {
	t.Helper()
	req, _ := http.NewRequest("POST", a.base+"/api/v1/admin/sessions/"+session+"/commands", strings.NewReader(`{"command":"`+command+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("command %s: %s", command, resp.Status)
	}
}

// waitSession waits for the backend's only session to have a
// session.started event, and returns its id.
func (a adminClient) waitSession(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var ss []backend.SessionInfo
		a.get(t, "/api/v1/admin/sessions", &ss)
		if len(ss) == 1 {
			var evs []backend.Event
			a.get(t, "/api/v1/admin/sessions/"+ss[0].ID+"/events", &evs)
			if slices.ContainsFunc(evs, func(e backend.Event) bool { return e.Type == "session.started" }) {
				return ss[0].ID
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no session started")
	return ""
}

type violationEvent struct {
	Code     string            `json:"code"`
	Summary  string            `json:"summary"`
	Evidence map[string]string `json:"evidence"`
}

// waitViolation polls the backend until a violation.open event matching
// match is stored, and returns how long that took since start.
func (a adminClient) waitViolation(t *testing.T, session string, start time.Time, match func(violationEvent) bool) time.Duration {
	t.Helper()
	for time.Since(start) < 10*time.Second {
		var evs []backend.Event
		a.get(t, "/api/v1/admin/sessions/"+session+"/events", &evs)
		for _, e := range evs {
			var v violationEvent
			if e.Type == "violation.open" && json.Unmarshal(e.Body, &v) == nil && match(v) {
				return time.Since(start)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("violation not stored within 10 s")
	return 0
}

// uniqueSleep copies sleep under name with random bytes appended, so that
// its SHA-256 is its own (a plain copy would share the hash of every sleep
// on the machine).
func uniqueSleep(t *testing.T, dir, name string) (path, sum string) {
	t.Helper()
	src, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, []byte(rand.Text())...) // ELF ignores trailing bytes
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return path, hex.EncodeToString(h[:])
}

// TestE2EViolationsReachBackend: a process named like a prohibited tool, the
// same binary renamed but matched by hash, and a process listening on a VNC
// port, each started during a headless run, are stored in the backend as
// violations within one second.
func TestE2EViolationsReachBackend(t *testing.T) {
	dir := t.TempDir()
	tag := strings.ToLower(rand.Text()[:8])
	toolName := "e2etool-" + tag
	tool, _ := uniqueSleep(t, dir, toolName)
	renamed, sum := uniqueSleep(t, dir, "innocent-"+tag)
	pol := fmt.Sprintf(`{"version": 1, "name": "lockdown e2e",
	  "processes": {"prohibited": [
	    {"id": "e2etool", "name": "E2E Tool", "category": "remote_access", "names": {"all": [%q]}},
	    {"id": "e2ehash", "name": "E2E Hashed", "category": "remote_access", "names": {"all": ["never-%s"]}, "sha256": [%q]}
	  ], "allowed": []},
	  "remote_ports": [{"name": "VNC", "port": 5900, "to": 5909}],
	  "displays": {"max": 16, "action": "flag"}, "virtual_machine": "flag", "remote_session": "flag",
	  "virtual_camera": {"action": "flag"}, "enforcement": {"terminate": "never"}}`, toolName, tag, sum)
	polFile := filepath.Join(dir, "policy.json")
	os.WriteFile(polFile, []byte(pol), 0o644)
	data := examData(t, "lockdown e2e", "LOCK", polFile)
	be := startBackend(t, data, "127.0.0.1:0")
	admin := newAdmin(t, be)

	spool := t.TempDir()
	args := clientArgs(be.url(), spool, 2*time.Minute)
	args[slices.Index(args, "e2e")] = "LOCK"
	cmd, out, errb := startClient(t, args...)
	session := admin.waitSession(t)
	time.Sleep(300 * time.Millisecond) // let the monitor's first scan settle

	var lat []time.Duration
	for _, tc := range []struct {
		name  string
		start func() *exec.Cmd
		code  string
	}{
		{"prohibited name", func() *exec.Cmd { return exec.Command(tool, "60") }, "process.prohibited"},
		{"renamed, matched by hash", func() *exec.Cmd { return exec.Command(renamed, "60") }, "process.prohibited"},
		{"listener on a VNC port", func() *exec.Cmd {
			c := exec.Command(os.Args[0])
			c.Env = append(os.Environ(), "INVIGIL_CHECK_HELPER=listen")
			return c
		}, "process.remote_port"},
	} {
		p := tc.start()
		t0, from := time.Now(), "the process started"
		if tc.code == "process.remote_port" {
			// A violation for a port can only start once the port is open:
			// time it from the helper's "listening" line, not from the
			// start of a large race-built test binary (which took up to a
			// second to get there on a loaded machine).
			if _, err := lockdowntest.StartListener(p); err != nil {
				t.Fatalf("listener helper: %v", err)
			}
			t.Cleanup(func() { p.Process.Kill(); p.Wait() })
			t0, from = time.Now(), "its port opened"
		} else {
			startCmd(t, p)
		}
		pid := strconv.Itoa(p.Process.Pid)
		d := admin.waitViolation(t, session, t0, func(v violationEvent) bool {
			return v.Code == tc.code && v.Evidence["pid"] == pid
		})
		t.Logf("%s: stored in the backend %v after %s", tc.name, d.Round(time.Millisecond), from)
		if d > time.Second {
			t.Errorf("%s: violation stored after %v, want within 1 s", tc.name, d)
		}
		lat = append(lat, d)
	}
	admin.command(t, session, "end")
	r := waitClient(t, cmd, out, errb)
	if r.exit != exitEnded || !r.summary.EndedByProctor || r.summary.Violations < 3 {
		t.Fatalf("client: exit %d, summary %+v\n%s", r.exit, r.summary, r.stderr)
	}
	// The run ended every violation: each open has its end.
	var evs []backend.Event
	admin.get(t, "/api/v1/admin/sessions/"+session+"/events", &evs)
	opened, ended := 0, 0
	for _, e := range evs {
		switch e.Type {
		case "violation.open":
			opened++
		case "violation.end":
			ended++
		}
	}
	if opened < 3 || ended != opened {
		t.Errorf("%d violations opened, %d ended", opened, ended)
	}
}

// TestE2EDisplayViolation: under Xvfb with two screens (Xinerama) and a
// policy allowing one display, a headless run reports display.count.
func TestE2EDisplayViolation(t *testing.T) {
	display := xvfbtest.Start(t, "1280x720x24", "1280x720x24")
	dir := t.TempDir()
	polFile := filepath.Join(dir, "policy.json")
	os.WriteFile(polFile, []byte(`{"version": 1, "name": "one display", "processes": {"prohibited": [], "allowed": []},
	  "remote_ports": [], "displays": {"max": 1, "action": "flag"}, "virtual_machine": "flag", "remote_session": "flag",
	  "virtual_camera": {"action": "flag"}}`), 0o644)
	data := examData(t, "displays", "DISP", polFile)
	be := startBackend(t, data, "127.0.0.1:0")
	admin := newAdmin(t, be)
	args := clientArgs(be.url(), t.TempDir(), 2*time.Minute)
	args[slices.Index(args, "e2e")] = "DISP"
	cmd, out, errb := startClientEnv(t, []string{"DISPLAY=" + display}, args...)
	session := admin.waitSession(t)
	admin.waitViolation(t, session, time.Now(), func(v violationEvent) bool {
		return v.Code == "display.count" && v.Evidence["count"] == "2"
	})
	admin.command(t, session, "end")
	if r := waitClient(t, cmd, out, errb); r.exit != exitEnded {
		t.Fatalf("client exit %d\n%s", r.exit, r.stderr)
	}
}
