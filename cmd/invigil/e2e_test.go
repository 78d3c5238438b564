package main

// End-to-end tests: the real invigil and invigild binaries on loopback, with
// the backend killed, the network stalled and cut, and the client killed. In
// each, every message the client produced must be stored exactly once, in
// order, and the receipt digests of both sides must match.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/invigil/invigil/backend"
	"github.com/invigil/invigil/transport"
	"github.com/invigil/invigil/transport/faultproxy"
)

var bins struct {
	once          sync.Once
	dir           string
	client, serve string
	err           error
}

// binaries builds invigil and invigild once per test binary.
func binaries(t *testing.T) (client, serve string) {
	t.Helper()
	bins.once.Do(func() {
		bins.dir, bins.err = os.MkdirTemp("", "invigil-e2e-bin")
		if bins.err != nil {
			return
		}
		bins.client = filepath.Join(bins.dir, "invigil")
		bins.serve = filepath.Join(bins.dir, "invigild")
		for _, b := range []struct{ out, pkg string }{{bins.client, "."}, {bins.serve, "../invigild"}} {
			// invigil_uitest: the desktop app's test driver (--ui-test-control).
			out, err := exec.Command("go", "build", "-tags", "invigil_uitest", "-o", b.out, b.pkg).CombinedOutput()
			if err != nil {
				bins.err = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.client, bins.serve
}

// afterTests run after every test of the binary, before its scratch
// directory goes (the Windows stage stops Wine and Xvfb there).
var afterTests []func()

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range afterTests {
		f()
	}
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// backendProc is an invigild serve process.
type backendProc struct {
	cmd  *exec.Cmd
	addr string // host:port
	data string
	logs *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listenRE = regexp.MustCompile(`listening on http://(\S+)`)

// startBackend runs invigild serve on addr (127.0.0.1:0 for a free port).
func startBackend(t *testing.T, data, addr string) *backendProc {
	t.Helper()
	_, serve := binaries(t)
	b := &backendProc{data: data, logs: &lockedBuffer{}}
	for attempt := 0; ; attempt++ {
		b.cmd = exec.Command(serve, "serve", "--addr", addr, "--data", data, "--demo", "--heartbeat", "500ms", "--log-level", "warn")
		b.cmd.Stderr = b.logs
		out, err := b.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := b.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				b.addr = m[1]
				break
			}
		}
		go io.Copy(io.Discard, out)
		if b.addr != "" {
			break
		}
		b.cmd.Wait()
		if attempt == 20 { // the port of a killed backend can take a moment to free
			t.Fatalf("invigild did not start on %s:\n%s", addr, b.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(b.kill)
	return b
}

func (b *backendProc) url() string { return "http://" + b.addr }

// kill is kill -9: no shutdown, no flush.
func (b *backendProc) kill() {
	if b.cmd.ProcessState == nil {
		b.cmd.Process.Kill()
		b.cmd.Wait()
	}
}

type clientResult struct {
	exit    int
	summary runSummary
	stderr  string
}

// newData makes a backend data directory with the exam E2E, whose policy
// prohibits no program: tests of other packages start processes named like
// prohibited tools, and delivery tests must not trip over them.
func newData(t *testing.T) string {
	t.Helper()
	return examData(t, "e2e", "E2E", "testdata/quiet-policy.json")
}

// examData makes a backend data directory with one exam.
func examData(t *testing.T, name, code, policyFile string) string {
	t.Helper()
	data := t.TempDir()
	runOut(t, "exam", "create", "--data", data, "--name", name, "--code", code, "--policy", policyFile)
	return data
}

// clientArgs are the flags of a headless run against server. Capture is
// off: these tests are about delivery, and the heartbeat track at 100
// messages/s is easier to check than video. The lockdown journal goes next
// to the spool, not in the user's config directory.
func clientArgs(server, spool string, duration time.Duration, extra ...string) []string {
	return append([]string{"run", "--headless", "--server", server, "--code", "e2e", "--accept-consent",
		"--duration", duration.String(), "--spool", spool, "--json", "--heartbeat-rate", "100", "--drain-timeout", "60s",
		"--camera", "none", "--screen", "none", "--journal", spool + ".journal"}, extra...)
}

func startClient(t *testing.T, args ...string) (*exec.Cmd, *lockedBuffer, *lockedBuffer) {
	t.Helper()
	return startClientEnv(t, nil, args...)
}

// startClientEnv starts the client with env added to this process's
// environment, its output in buffers, and kills it at cleanup.
func startClientEnv(t *testing.T, env []string, args ...string) (*exec.Cmd, *lockedBuffer, *lockedBuffer) {
	t.Helper()
	cl, _ := binaries(t)
	cmd := exec.Command(cl, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, &stdout, &stderr
}

func waitClient(t *testing.T, cmd *exec.Cmd, stdout, stderr *lockedBuffer) clientResult {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("client did not finish:\n%s", stderr)
	}
	r := clientResult{exit: cmd.ProcessState.ExitCode(), stderr: stderr.String()}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if last := lines[len(lines)-1]; strings.HasPrefix(last, "{") {
		if err := json.Unmarshal([]byte(last), &r.summary); err != nil {
			t.Fatalf("summary %q: %v", last, err)
		}
	}
	return r
}

func runClient(t *testing.T, args ...string) clientResult {
	t.Helper()
	cmd, out, errb := startClient(t, args...)
	return waitClient(t, cmd, out, errb)
}

// verifyExactlyOnce checks that the backend in data stored messages 1..n of
// the session exactly once each, in order, on the right tracks, and that its
// digest is the client's.
func verifyExactlyOnce(t *testing.T, data string, r clientResult) {
	t.Helper()
	if r.exit != 0 {
		t.Fatalf("client exit %d:\n%s", r.exit, r.stderr)
	}
	s := r.summary
	if !s.DigestMatch || s.Digest == "" || s.MessagesAcked != s.MessagesSent || s.MessagesSent == 0 {
		t.Fatalf("summary %+v", s)
	}
	b, err := backend.Open(backend.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	sessions, err := b.ListSessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(sessions, func(x backend.SessionInfo) bool { return x.ID == s.SessionID })
	if i < 0 {
		t.Fatalf("session %s not stored", s.SessionID)
	}
	sess := sessions[i]
	if sess.State != "finished" || sess.LastAck != s.MessagesSent || sess.Digest != s.Digest {
		t.Fatalf("stored session %+v, client summary %+v", sess, s)
	}
	var seqs []uint64
	evs, err := b.ListEvents(ctx, s.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		seqs = append(seqs, e.Seq)
	}
	hb := 0
	var media int64 // messages on video tracks: their MP4 files carry no sequence numbers
	for _, tr := range sess.Tracks {
		if tr.File == "" {
			continue
		}
		if tr.Kind == "media" {
			media += tr.Messages
			continue
		}
		frames, err := backend.ReadRawTrack(tr.File)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(frames)) != tr.Messages {
			t.Errorf("track %s: file holds %d frames, index says %d", tr.Name, len(frames), tr.Messages)
		}
		for i, f := range frames {
			if i > 0 && f.Seq <= frames[i-1].Seq {
				t.Fatalf("track %s out of order: %d after %d", tr.Name, f.Seq, frames[i-1].Seq)
			}
			if tr.Track == transport.TrackHeartbeat {
				hb++
				if want := fmt.Sprintf("heartbeat %d", hb); !bytes.HasPrefix(f.Payload, []byte(want)) {
					// Numbering restarts with each run of the client.
					if !bytes.HasPrefix(f.Payload, []byte("heartbeat 1\x00")) {
						t.Fatalf("heartbeat %d payload %q", hb, f.Payload[:20])
					}
					hb = 1
				}
			}
			seqs = append(seqs, f.Seq)
		}
	}
	slices.Sort(seqs)
	if uint64(len(seqs))+uint64(media) != s.MessagesSent {
		t.Fatalf("stored %d messages (%d of them video), client produced %d", len(seqs)+int(media), media, s.MessagesSent)
	}
	for i, q := range seqs {
		if q < 1 || q > s.MessagesSent || (i > 0 && q == seqs[i-1]) {
			t.Fatalf("stored seq %d twice or out of 1..%d", q, s.MessagesSent)
		}
		if media == 0 && q != uint64(i+1) {
			t.Fatalf("stored seqs are not 1..%d: position %d holds %d", s.MessagesSent, i, q)
		}
	}
}

func TestE2ENormalRun(t *testing.T) {
	be := startBackend(t, newData(t), "127.0.0.1:0")
	r := runClient(t, clientArgs(be.url(), t.TempDir(), 3*time.Second)...)
	verifyExactlyOnce(t, be.data, r)
	if r.summary.ThisRun["heartbeat"] < 200 {
		t.Errorf("only %d heartbeats in 3 s at 100/s", r.summary.ThisRun["heartbeat"])
	}
}

func TestE2EBackendKilledAndRestarted(t *testing.T) {
	data := newData(t)
	be := startBackend(t, data, "127.0.0.1:0")
	cmd, out, errb := startClient(t, clientArgs(be.url(), t.TempDir(), 8*time.Second)...)
	time.Sleep(2500 * time.Millisecond)
	be.kill()
	time.Sleep(1500 * time.Millisecond) // the client spools meanwhile
	be = startBackend(t, data, be.addr)
	time.Sleep(1500 * time.Millisecond)
	be.kill() // and once more, while it catches up
	be = startBackend(t, data, be.addr)
	r := waitClient(t, cmd, out, errb)
	if r.summary.Reconnects < 1 {
		t.Errorf("reconnects = %d, want >= 1", r.summary.Reconnects)
	}
	be.kill()
	verifyExactlyOnce(t, data, r)
}

func TestE2ENetworkStalledAndCut(t *testing.T) {
	be := startBackend(t, newData(t), "127.0.0.1:0")
	p, err := faultproxy.New(be.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cmd, out, errb := startClient(t, clientArgs("http://"+p.Addr(), t.TempDir(), 12*time.Second, "--log-level", "info")...)
	// Each fault waits for the client to have come back from the last one
	// (its "connected" log line), so that a loaded machine cannot make two
	// faults fall on one connection.
	connected := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for strings.Count(errb.String(), "msg=connected") < n {
			if time.Now().After(deadline) {
				t.Fatalf("client did not connect %d times:\n%s", n, errb.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	connected(1)
	time.Sleep(500 * time.Millisecond)
	p.Stall() // longer than 3 heartbeats: the client must notice the dead link
	time.Sleep(2500 * time.Millisecond)
	p.Resume()
	connected(2)
	time.Sleep(300 * time.Millisecond)
	p.Cut()
	connected(3)
	p.Refuse(true)
	p.Cut()
	time.Sleep(1000 * time.Millisecond)
	p.Refuse(false)
	p.Throttle(64 << 10)
	connected(4)
	r := waitClient(t, cmd, out, errb)
	if r.summary.Reconnects < 3 {
		t.Errorf("reconnects = %d, want >= 3", r.summary.Reconnects)
	}
	be.kill()
	verifyExactlyOnce(t, be.data, r)
}

func TestE2EClientKilledAndRestarted(t *testing.T) {
	be := startBackend(t, newData(t), "127.0.0.1:0")
	p, err := faultproxy.New(be.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	spool := t.TempDir()
	cmd, _, _ := startClient(t, clientArgs("http://"+p.Addr(), spool, time.Minute)...)
	time.Sleep(2 * time.Second)
	p.Stall() // so that the spool holds unsent messages when the client dies
	time.Sleep(time.Second)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	p.Resume()
	r := runClient(t, clientArgs("http://"+p.Addr(), spool, 2*time.Second)...)
	if !r.summary.Resumed {
		t.Fatalf("second run did not resume: %+v\n%s", r.summary, r.stderr)
	}
	be.kill()
	verifyExactlyOnce(t, be.data, r)
	if left, _ := filepath.Glob(filepath.Join(spool, "*")); len(left) != 0 {
		t.Errorf("spool not wiped after finish: %v", left)
	}
}

func TestE2EJoinErrors(t *testing.T) {
	be := startBackend(t, newData(t), "127.0.0.1:0")
	// A free port nobody listens on.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	other := startBackend(t, newData(t), "127.0.0.1:0")
	otherKey := strings.TrimSpace(runOut(t, "key", "--data", other.data))

	// A man in the middle that changes one byte of the signed policy.
	target, _ := url.Parse(be.url())
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != "/api/v1/join" {
			return nil
		}
		body, _ := io.ReadAll(resp.Body)
		// One byte of the signed policy: its name.
		tampered := bytes.Replace(body, []byte("delivery tests"), []byte("delivery tesTs"), 1)
		if bytes.Equal(tampered, body) {
			return fmt.Errorf("policy name not found in the join answer")
		}
		body = tampered
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Del("Content-Length")
		return nil
	}
	mitm := &http.Server{Handler: rp}
	mln, _ := net.Listen("tcp", "127.0.0.1:0")
	go mitm.Serve(mln)
	defer mitm.Close()

	// A managed configuration (as IT installs it) that names the backend and
	// pins another backend's key: the headless run honours it.
	cfgFile := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`{"server": %q, "server_key": %q}`, be.url(), otherKey)), 0o644)
	tests := []struct {
		name     string
		args     []string
		exit     int
		contains string
	}{
		{"managed config pins another key", []string{"run", "--headless", "--config", cfgFile, "--code", "e2e", "--accept-consent", "--duration", "1s", "--spool", t.TempDir(), "--camera", "none", "--screen", "none"}, exitBadPolicy, "does not verify"},
		{"wrong code", []string{"run", "--headless", "--server", be.url(), "--code", "NOPE", "--accept-consent", "--duration", "1s", "--spool", t.TempDir()}, exitJoinRefused, "no exam has the join code NOPE"},
		{"unreachable", []string{"run", "--headless", "--server", "http://" + dead, "--code", "e2e", "--accept-consent", "--duration", "1s", "--spool", t.TempDir(), "--camera", "none", "--screen", "none"}, exitUnreachable, "cannot reach the backend"},
		{"tampered policy", []string{"run", "--headless", "--server", "http://" + mln.Addr().String(), "--code", "e2e", "--accept-consent", "--duration", "1s", "--spool", t.TempDir(), "--camera", "none", "--screen", "none"}, exitBadPolicy, "policy signature does not verify"},
		{"other backend's key", []string{"run", "--headless", "--server", be.url(), "--server-key", otherKey, "--code", "e2e", "--accept-consent", "--duration", "1s", "--spool", t.TempDir(), "--camera", "none", "--screen", "none"}, exitBadPolicy, "does not verify"},
		{"no consent", []string{"run", "--headless", "--server", be.url(), "--code", "e2e", "--duration", "1s"}, exitUsage, "--accept-consent"},
		{"bad flag", []string{"run", "--headless", "--bogus"}, exitUsage, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runClient(t, tt.args...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			if r.exit != tt.exit || !strings.Contains(r.stderr, tt.contains) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", r.exit, r.stderr, tt.exit, tt.contains)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
				t.Errorf("stack trace in: %s", r.stderr)
			}
			_ = last
		})
	}
}

// runOut runs invigild with args and returns its stdout.
func runOut(t *testing.T, args ...string) string {
	t.Helper()
	_, serve := binaries(t)
	out, err := exec.Command(serve, args...).Output()
	if err != nil {
		t.Fatalf("invigild %v: %v", args, err)
	}
	return string(out)
}
