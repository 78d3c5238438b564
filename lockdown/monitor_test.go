package lockdown

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invigil/invigil/lockdown/journal"
	"github.com/invigil/invigil/lockdown/policy"
)

// recorder is a Sink that keeps every event with the time it arrived.
type recorder struct {
	mu     sync.Mutex
	events []Violation
	at     []time.Time
	disp   [][]Display
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1000)} }

func (r *recorder) Violation(v Violation) {
	r.mu.Lock()
	r.events = append(r.events, v)
	r.at = append(r.at, time.Now())
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) DisplaysChanged(_ time.Time, ds []Display) {
	r.mu.Lock()
	r.disp = append(r.disp, ds)
	r.mu.Unlock()
}

// wait returns the first event matching ok, and when it arrived, or fails
// after timeout.
// eventWait bounds how long a test waits for an event that must come. It
// is not a latency target: those are bench/lockdown's and the e2e test's;
// a loaded CI machine under -race must not fail a correctness test.
const eventWait = 10 * time.Second

func (r *recorder) wait(t *testing.T, timeout time.Duration, what string, ok func(Violation) bool) (Violation, time.Time) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		for i, v := range r.events {
			if ok(v) {
				at := r.at[i]
				r.mu.Unlock()
				return v, at
			}
		}
		r.mu.Unlock()
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("no %s within %v; events: %+v", what, timeout, r.snapshot())
		}
	}
}

func (r *recorder) snapshot() []Violation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Violation(nil), r.events...)
}

func pidIs(pid int, code Code, phase Phase) func(Violation) bool {
	return func(v Violation) bool {
		return v.Code == code && v.Phase == phase && v.Evidence["pid"] == strconv.Itoa(pid)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestMonitorRealProcesses: processes started while the Monitor runs are
// flagged within one second (by name, by hash, by listening port), and their
// violations end when they exit.
func TestMonitorRealProcesses(t *testing.T) {
	dir := t.TempDir()
	anydesk, sum := copySleep(t, dir, "anydesk")
	innocent, _ := copySleep(t, dir, "calendar-sync")
	p := hashPolicy(t, sum)
	p.Enforcement.Terminate = policy.TerminateNever
	rec := newRecorder()
	m, err := NewMonitor(p, MonitorOptions{Sink: rec, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	start := time.Now()
	named := startProc(t, anydesk)
	renamed := startProc(t, innocent)
	lis, port := startListener(t)

	for _, tt := range []struct {
		what string
		pid  int
		code Code
	}{
		{"prohibited name", named.Process.Pid, CodeProcessProhibited},
		{"prohibited hash", renamed.Process.Pid, CodeProcessProhibited},
		{"remote-access port", lis.Process.Pid, CodeProcessRemotePort},
	} {
		v, at := rec.wait(t, eventWait, tt.what, pidIs(tt.pid, tt.code, PhaseOpen))
		t.Logf("%s flagged %v after the processes started", tt.what, at.Sub(start).Round(time.Millisecond))
		if v.Severity != SeverityCritical || v.ID == "" || v.Start.IsZero() || !v.End.IsZero() {
			t.Errorf("%s: open event %+v", tt.what, v)
		}
		if tt.code == CodeProcessRemotePort && v.Evidence["port"] != strconv.Itoa(port) {
			t.Errorf("port evidence %q, want %d", v.Evidence["port"], port)
		}
	}
	if v, _ := rec.wait(t, eventWait, "hash evidence", pidIs(renamed.Process.Pid, CodeProcessProhibited, PhaseOpen)); v.Evidence["reason"] != "sha256" {
		t.Errorf("renamed copy matched by %q, want sha256", v.Evidence["reason"])
	}

	// The process exits: its violation ends, with the same ID.
	open, _ := rec.wait(t, eventWait, "open", pidIs(named.Process.Pid, CodeProcessProhibited, PhaseOpen))
	named.stop()
	end, _ := rec.wait(t, eventWait, "end", pidIs(named.Process.Pid, CodeProcessProhibited, PhaseEnd))
	if end.ID != open.ID || end.End.Before(end.Start) {
		t.Errorf("end event %+v does not close %s", end, open.ID)
	}

	// Close ends what is still open, and stops the events: when it
	// returns, every open event has its end, no Monitor goroutine is left
	// to send more, and calls into the closed Monitor send nothing.
	m.Close()
	for _, v := range m.Open() {
		t.Errorf("still open after Close: %+v", v)
	}
	checkClosedMonitor(t, m, rec)
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// checkClosedMonitor checks a Monitor after Close: every violation that
// opened has ended, none of its goroutines runs, and calls into it send
// nothing.
func checkClosedMonitor(t *testing.T, m *Monitor, rec *recorder) {
	t.Helper()
	evs := rec.snapshot()
	open := map[string]bool{}
	for _, v := range evs {
		open[v.ID] = v.Phase == PhaseOpen
	}
	for id, o := range open {
		if o {
			t.Errorf("violation %s has no end event after Close", id)
		}
	}
	if g := monitorGoroutines(); g != "" {
		t.Errorf("Monitor goroutines left after Close:\n%s", g)
	}
	now := time.Now()
	m.FocusLost(now.Add(-time.Hour))
	m.FocusGained(now)
	m.ClipboardUsed(now, ClipboardPaste)
	m.SetCameras([]Camera{{Label: "OBS Virtual Camera"}})
	if got := rec.snapshot(); len(got) != len(evs) {
		t.Errorf("events after Close: %+v", got[len(evs):])
	}
}

// monitorGoroutines returns the stacks of goroutines running a Monitor
// method.
func monitorGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "lockdown.(*Monitor).") && !strings.Contains(g, "monitorGoroutines") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// closingPolicy prohibits only a name unique to this test process, so that
// tests which close prohibited processes never touch another test's (or
// another engineer's) "anydesk".
func closingPolicy(t *testing.T) (*policy.Policy, string) {
	name := fmt.Sprintf("ldtest%d", os.Getpid())
	p := policy.Default()
	p.Processes.Prohibited = []policy.ProcessRule{{ID: "test-tool", Name: "Test tool", Category: "remote_access",
		Names: policy.OSList{All: []string{name}}, Action: policy.Block}}
	p.RemotePorts = []policy.PortRule{}
	return p, name
}

func TestMonitorAutoTerminate(t *testing.T) {
	dir := t.TempDir()
	p, name := closingPolicy(t)
	anydesk, _ := copySleep(t, dir, name)
	p.Enforcement = policy.Enforcement{Terminate: policy.TerminateAuto, GraceSeconds: 2}
	p.Clipboard = policy.ClipboardAllow
	j, _, err := journal.Open(context.Background(), filepath.Join(dir, "journal.jsonl"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	m, err := NewMonitor(p, MonitorOptions{Sink: rec, Logger: quietLogger(), Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cmd := startProc(t, anydesk)
	select {
	case <-cmd.exited:
	case <-time.After(eventWait):
		t.Fatal("prohibited process not closed")
	}
	end, _ := rec.wait(t, eventWait, "end", pidIs(cmd.Process.Pid, CodeProcessProhibited, PhaseEnd))
	if !strings.Contains(end.Evidence["resolution"], "closed automatically") {
		t.Errorf("resolution %q", end.Evidence["resolution"])
	}
	m.Close()
	pending, err := journal.Pending(j.Path())
	if err != nil || len(pending) != 1 || pending[0].Kind != "process.close" {
		t.Errorf("journal: %+v, %v; want one process.close", pending, err)
	}
	res, err := j.Close(context.Background())
	if err != nil || len(res) != 1 || res[0].Outcome != "nothing to undo" {
		t.Errorf("journal Close: %+v, %v", res, err)
	}
	if _, err := os.Stat(j.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal left behind: %v", err)
	}
}

func TestMonitorAsk(t *testing.T) {
	for _, answer := range []bool{false, true} {
		t.Run(fmt.Sprint("answer=", answer), func(t *testing.T) {
			dir := t.TempDir()
			p, name := closingPolicy(t)
			anydesk, _ := copySleep(t, dir, name)
			p.Enforcement = policy.Enforcement{Terminate: policy.TerminateAsk, GraceSeconds: 1}
			p.Clipboard = policy.ClipboardAllow
			j, _, err := journal.Open(context.Background(), filepath.Join(dir, "journal.jsonl"), journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close(context.Background())
			asked := make(chan []ProcessFinding, 10)
			ask := func(ctx context.Context, fs []ProcessFinding) bool { asked <- fs; return answer }
			rec := newRecorder()
			cmd := startProc(t, anydesk)
			m, err := NewMonitor(p, MonitorOptions{Sink: rec, Logger: quietLogger(), Journal: j, Ask: ask})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			select {
			case fs := <-asked:
				if _, ok := findPID(fs, cmd.Process.Pid); !ok {
					t.Errorf("asked about %+v, not pid %d", fs, cmd.Process.Pid)
				}
			case <-time.After(eventWait):
				t.Fatal("student not asked")
			}
			// Agreed: the process must go (however slow the machine).
			// Declined: it must still be there well after the 1 s grace.
			wait := eventWait
			if !answer {
				wait = 3 * time.Second
			}
			select {
			case <-cmd.exited:
				if !answer {
					t.Error("closed although the student declined")
				}
			case <-time.After(wait):
				if answer {
					t.Error("not closed although the student agreed")
				}
				cmd.stop()
			}
			end, _ := rec.wait(t, eventWait, "end", pidIs(cmd.Process.Pid, CodeProcessProhibited, PhaseEnd))
			want := "declined"
			if answer {
				want = "consent"
			}
			if !strings.Contains(end.Evidence["resolution"], want) {
				t.Errorf("resolution %q, want it to mention %q", end.Evidence["resolution"], want)
			}
		})
	}
}

func TestCloseProcesses(t *testing.T) {
	dir := t.TempDir()
	anydesk, _ := copySleep(t, dir, "anydesk")
	// Reap the children as they die, as their real parents would.
	reap := func(cmd *exec.Cmd) {
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-done })
	}
	polite := exec.Command(anydesk, "60")
	if err := polite.Start(); err != nil {
		t.Fatal(err)
	}
	stubborn := exec.Command(os.Args[0], "-test.run=^$")
	stubborn.Env = append(os.Environ(), "INVIGIL_TEST_HELPER=ignore-term")
	out, _ := stubborn.StdoutPipe()
	if err := stubborn.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	io.ReadFull(out, buf) // "ready\n": SIGTERM is ignored from here on
	reap(polite)
	reap(stubborn)

	finding := func(pid int) ProcessFinding {
		info, err := readProc(context.Background(), int32(pid))
		if err != nil {
			t.Fatal(err)
		}
		return ProcessFinding{PID: int32(pid), CreateTime: info.create, Name: info.name}
	}
	reused := finding(polite.Process.Pid)
	reused.CreateTime-- // the pid now names another process
	fs := []ProcessFinding{reused, finding(polite.Process.Pid), finding(stubborn.Process.Pid), {PID: 0, Name: "invisible"}}
	start := time.Now()
	got := CloseProcesses(context.Background(), fs, 500*time.Millisecond)
	want := []string{"gone", "exited", "killed", "failed"}
	for i := range want {
		if got[i].Outcome != want[i] {
			t.Errorf("%s (pid %d): outcome %q (%s), want %q", fs[i].Name, fs[i].PID, got[i].Outcome, got[i].Error, want[i])
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

// fakeClock drives the Monitor's loops by hand.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*fakeTicker
}

type fakeTicker struct {
	d time.Duration
	c chan time.Time
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }
func (t *fakeTicker) Stop()               {}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTicker(d time.Duration) Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTicker{d: d, c: make(chan time.Time)}
	c.tickers = append(c.tickers, t)
	return t
}

// processTicker returns the process loop's ticker (period 150 ms), which
// also times the focus grace, once the loop has made it.
func (c *fakeClock) processTicker() *fakeTicker {
	for i := 0; i < 5000; i++ {
		c.mu.Lock()
		for _, tk := range c.tickers {
			if tk.d == 150*time.Millisecond {
				c.mu.Unlock()
				return tk
			}
		}
		c.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	return nil
}

// advance moves the clock and delivers one tick to the process loop.
func (c *fakeClock) advance(t *testing.T, d time.Duration) {
	tk := c.processTicker()
	if tk == nil {
		t.Fatal("no process ticker")
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	select {
	case tk.c <- now:
	case <-time.After(15 * time.Second):
		t.Fatal("tick not taken")
	}
}

func TestMonitorFocus(t *testing.T) {
	p := policy.Default()
	p.Clipboard = policy.ClipboardBlock
	p.FocusLoss = policy.FocusLoss{Action: policy.Flag, GraceMS: 1000}
	p.Processes.Prohibited = nil
	p.RemotePorts = nil
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: t0}
	rec := newRecorder()
	m, err := NewMonitor(p, MonitorOptions{Sink: rec, Clock: clock, Logger: quietLogger(), Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	focus := func(v Violation) bool { return v.Code == CodeFocusLost }
	count := func() (n int) {
		for _, v := range rec.snapshot() {
			if focus(v) {
				n++
			}
		}
		return n
	}

	// A short loss, within the grace period: nothing.
	m.FocusLost(t0)
	clock.advance(t, 500*time.Millisecond)
	m.FocusGained(t0.Add(600 * time.Millisecond))
	clock.advance(t, 2*time.Second)
	if n := count(); n != 0 {
		t.Fatalf("%d focus events for a loss shorter than the grace", n)
	}

	// A long one: opens once the grace is over, dated from the loss.
	lost := clock.Now()
	m.FocusLost(lost)
	clock.advance(t, 500*time.Millisecond)
	if n := count(); n != 0 {
		t.Fatalf("opened before the grace period was over")
	}
	clock.advance(t, 600*time.Millisecond)
	open, _ := rec.wait(t, eventWait, "focus open", func(v Violation) bool { return focus(v) && v.Phase == PhaseOpen })
	if !open.Start.Equal(lost) || open.Severity != SeverityWarning {
		t.Errorf("open %+v, want start %v, warning", open, lost)
	}
	back := lost.Add(5 * time.Second)
	m.FocusGained(back)
	end, _ := rec.wait(t, eventWait, "focus end", func(v Violation) bool { return focus(v) && v.Phase == PhaseEnd })
	if end.ID != open.ID || !end.End.Equal(back) {
		t.Errorf("end %+v, want id %s end %v", end, open.ID, back)
	}

	// Clipboard "block": every use is an instant violation.
	at := t0.Add(time.Minute)
	m.ClipboardUsed(at, ClipboardPaste)
	cb, _ := rec.wait(t, eventWait, "clipboard end", func(v Violation) bool { return v.Code == CodeClipboardUsed && v.Phase == PhaseEnd })
	if !cb.Start.Equal(at) || !cb.End.Equal(at) || cb.Evidence["op"] != "paste" {
		t.Errorf("clipboard event %+v", cb)
	}
}

func TestMonitorCameras(t *testing.T) {
	p := policy.Default()
	rec := newRecorder()
	m, err := NewMonitor(p, MonitorOptions{Sink: rec, Logger: quietLogger(), Cameras: []Camera{{Label: "OBS Virtual Camera"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	open, _ := rec.wait(t, eventWait, "camera open", func(v Violation) bool { return v.Code == CodeCameraVirtual && v.Phase == PhaseOpen })
	m.SetCameras([]Camera{{Label: "Integrated Camera"}})
	end, _ := rec.wait(t, eventWait, "camera end", func(v Violation) bool { return v.Code == CodeCameraVirtual && v.Phase == PhaseEnd })
	if end.ID != open.ID || open.Evidence["label"] != "OBS Virtual Camera" {
		t.Errorf("open %+v end %+v", open, end)
	}
}

func TestMonitorOptions(t *testing.T) {
	if _, err := NewMonitor(policy.Default(), MonitorOptions{}); err == nil {
		t.Error("no sink accepted")
	}
	bad := policy.Default()
	bad.Displays.Max = 0
	if _, err := NewMonitor(bad, MonitorOptions{Sink: newRecorder()}); err == nil {
		t.Error("invalid policy accepted")
	}
}

// blockingSink blocks in Violation until released, and keeps what it got.
type blockingSink struct {
	entered chan Violation
	release chan struct{}
	mu      sync.Mutex
	got     []Violation
}

func (s *blockingSink) Violation(v Violation) {
	select {
	case s.entered <- v:
	default:
	}
	<-s.release
	s.mu.Lock()
	s.got = append(s.got, v)
	s.mu.Unlock()
}

// TestMonitorSlowSink: a Sink that blocks stalls neither the Monitor's
// callers nor its state; the events wait in order, none is dropped, and
// all of them have reached the Sink when Close returns.
func TestMonitorSlowSink(t *testing.T) {
	p := policy.Default()
	p.Clipboard = policy.ClipboardBlock
	sink := &blockingSink{entered: make(chan Violation, 1), release: make(chan struct{})}
	m, err := NewMonitor(p, MonitorOptions{Sink: sink, Logger: quietLogger(), listHidden: (&fakeWindows{}).list})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var once sync.Once
	unblock := func() { once.Do(func() { close(sink.release) }) }
	defer unblock() // before Close, also when the test fails
	cam := []Camera{{Label: "OBS Virtual Camera"}}
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		m.SetCameras(cam)
		<-sink.entered // the Sink now blocks on the first event
		for range 100 {
			m.ClipboardUsed(time.Now(), ClipboardPaste)
		}
		m.SetCameras(nil)
		if slices.ContainsFunc(m.Open(), func(v Violation) bool { return v.Code == CodeCameraVirtual }) {
			t.Error("the virtual camera's violation is still open after it went away")
		}
	}()
	select {
	case <-returned:
	case <-time.After(eventWait):
		t.Fatal("the Monitor's callers are stalled behind a blocked Sink")
	}
	unblock()
	m.Close()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	var camEvents []Phase
	clip := 0
	for _, v := range sink.got {
		switch v.Code {
		case CodeCameraVirtual:
			camEvents = append(camEvents, v.Phase)
		case CodeClipboardUsed:
			clip++
		}
	}
	if len(camEvents) != 2 || camEvents[0] != PhaseOpen || camEvents[1] != PhaseEnd {
		t.Errorf("camera events %v, want [open end]", camEvents)
	}
	if clip != 200 {
		t.Errorf("%d clipboard events reached the Sink, want 200 (100 open + 100 end)", clip)
	}
}
