package flowtest

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"sync"
	"time"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

// Env is a fake client.Env. Set its fields before the flow runs; they are
// read under its lock, so a test may change them between steps.
type Env struct {
	mu sync.Mutex
	// JoinErrs are returned by successive Join calls; after them Join
	// succeeds.
	JoinErrs []error
	// Policy is the joined exam's policy (default: policy.Default()).
	Policy *policy.Policy
	// Unpinned and Resumed are copied into the Joined.
	Unpinned, Resumed bool
	// Reports are returned by successive Check calls; the last one
	// repeats. Empty: a passing report.
	Reports []lockdown.Report
	// Rate and RateErr are the speed test's result.
	Rate    float64
	RateErr error
	// PreviewErrs are returned by successive OpenPreview calls.
	PreviewErrs []error
	// StartErrs are returned by successive StartExam calls.
	StartErrs []error
	// StartGate, if set, holds StartExam until it is closed, whatever its
	// context says: a recording that starts after the flow has stopped.
	StartGate chan struct{}
	// Closed records the programs CloseApps was asked to close.
	Closed []string

	exam  *Exam
	calls []string
}

// Calls lists the Env's calls so far, in order ("join", "check", ...).
func (e *Env) Calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.calls...)
}

// Exam is the running fake exam (nil before StartExam).
func (e *Env) Exam() *Exam {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.exam
}

func (e *Env) call(name string) {
	e.mu.Lock()
	e.calls = append(e.calls, name)
	e.mu.Unlock()
}

// Join implements client.Env.
func (e *Env) Join(ctx context.Context, opts exam.JoinOptions) (*exam.Joined, error) {
	e.call("join")
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.JoinErrs) > 0 {
		err := e.JoinErrs[0]
		e.JoinErrs = e.JoinErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	p := e.Policy
	if p == nil {
		p = policy.Default()
	}
	return &exam.Joined{
		Resp: &transport.JoinResponse{SessionID: "s_3f1c9a0b7d", Token: "tok",
			Exam: transport.ExamInfo{ID: "e_1", Name: "Physics midterm"}},
		Policy: p, ConfigKey: "9f86d081884c7d65", Unpinned: e.Unpinned, Resumed: e.Resumed,
		Server: opts.Server, SpoolDir: opts.SpoolDir,
	}, nil
}

// Check implements client.Env.
func (e *Env) Check(ctx context.Context, p *policy.Policy) lockdown.Report {
	e.call("check")
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.Reports) == 0 {
		return PassingReport()
	}
	r := e.Reports[0]
	if len(e.Reports) > 1 {
		e.Reports = e.Reports[1:]
	}
	return r
}

// CloseApps implements client.Env.
func (e *Env) CloseApps(ctx context.Context, procs []lockdown.ProcessFinding) []lockdown.CloseResult {
	e.call("close_apps")
	e.mu.Lock()
	defer e.mu.Unlock()
	var res []lockdown.CloseResult
	for _, p := range procs {
		e.Closed = append(e.Closed, p.Name)
		res = append(res, lockdown.CloseResult{PID: p.PID, Name: p.Name, Outcome: "exited"})
	}
	return res
}

// SpeedTest implements client.Env.
func (e *Env) SpeedTest(ctx context.Context, j *exam.Joined) (float64, error) {
	e.call("speedtest")
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.RateErr != nil {
		return 0, e.RateErr
	}
	if e.Rate == 0 {
		return 2.4e6, nil
	}
	return e.Rate, nil
}

// OpenPreview implements client.Env.
func (e *Env) OpenPreview(ctx context.Context, p *policy.Policy) (client.Preview, error) {
	e.call("preview")
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.PreviewErrs) > 0 {
		err := e.PreviewErrs[0]
		e.PreviewErrs = e.PreviewErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	return &Camera{}, nil
}

// StartExam implements client.Env.
func (e *Env) StartExam(ctx context.Context, j *exam.Joined, hooks client.ExamHooks) (client.ExamRun, error) {
	e.call("start_exam")
	e.mu.Lock()
	gate := e.StartGate
	e.mu.Unlock()
	if gate != nil {
		<-gate
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.StartErrs) > 0 {
		err := e.StartErrs[0]
		e.StartErrs = e.StartErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	x := &Exam{Hooks: hooks, cmds: make(chan transport.Command, 16), stopped: make(chan struct{}),
		connected: true, serverState: transport.StateActive, autoAck: true, camera: &Camera{}}
	if !j.Policy.Capture.Camera.Enabled {
		x.camera = nil
	}
	x.event("consent.accepted", nil)
	e.exam = x
	return x, nil
}

// PassingReport is a system check where everything passes.
func PassingReport() lockdown.Report {
	return lockdown.Report{Time: time.Now(), Status: lockdown.StatusPass, Checks: []lockdown.CheckResult{
		{ID: lockdown.CheckProcesses, Title: "Prohibited programs", Status: lockdown.StatusPass, Summary: "No prohibited program is running."},
		{ID: lockdown.CheckRemotePorts, Title: "Remote access", Status: lockdown.StatusPass, Summary: "No remote-access server is listening."},
		{ID: lockdown.CheckDisplays, Title: "Displays", Status: lockdown.StatusPass, Summary: "One display."},
		{ID: lockdown.CheckVM, Title: "Virtual machine", Status: lockdown.StatusPass, Summary: "Not a virtual machine."},
		{ID: lockdown.CheckRemoteSession, Title: "Remote session", Status: lockdown.StatusPass, Summary: "Not a remote session."},
		{ID: lockdown.CheckCamera, Title: "Camera", Status: lockdown.StatusPass, Summary: "A real camera."},
		{ID: lockdown.CheckClipboard, Title: "Clipboard", Status: lockdown.StatusPass, Summary: "The clipboard can be cleared."},
	}}
}

// FailingReport is a system check that finds AnyDesk running (closable)
// and a second display.
func FailingReport() lockdown.Report {
	r := PassingReport()
	r.Status = lockdown.StatusFail
	r.Checks[0] = lockdown.CheckResult{ID: lockdown.CheckProcesses, Title: "Prohibited programs", Status: lockdown.StatusFail,
		Summary: "AnyDesk is running.", Fixes: []string{"Close AnyDesk (pid 4242)"},
		Processes: []lockdown.ProcessFinding{{PID: 4242, Name: "anydesk", Program: "AnyDesk", Reason: "name", Action: "block"}}}
	r.Checks[2] = lockdown.CheckResult{ID: lockdown.CheckDisplays, Title: "Displays", Status: lockdown.StatusWarn,
		Summary: "2 displays are connected; the exam allows 1.", Fixes: []string{"Unplug the second monitor"}}
	return r
}

// Exam is a fake running exam. By default the backend is connected and
// acknowledges everything at once.
type Exam struct {
	Hooks client.ExamHooks

	cmds    chan transport.Command
	stopped chan struct{}
	camera  *Camera

	mu          sync.Mutex
	events      []Event
	next, acked uint64
	connected   bool
	serverState string
	autoAck     bool
	problem     error
	stopErr     error
	finished    bool
	aborted     bool
	focus       []bool
	clipboard   []lockdown.ClipboardOp
	finishGate  chan struct{}
	finishErr   error
	stopOnce    sync.Once
}

// Event is one event the fake exam sent.
type Event struct {
	Type   string
	Fields map[string]any
}

func (x *Exam) event(typ string, fields map[string]any) uint64 {
	x.next++
	x.events = append(x.events, Event{Type: typ, Fields: fields})
	if x.autoAck {
		x.acked = x.next
	}
	return x.next
}

// Events are the events sent so far.
func (x *Exam) Events() []Event {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]Event(nil), x.events...)
}

// HasEvent reports whether an event of type typ was sent.
func (x *Exam) HasEvent(typ string) bool {
	for _, e := range x.Events() {
		if e.Type == typ {
			return true
		}
	}
	return false
}

// Command delivers a proctor's command.
func (x *Exam) Command(c transport.Command) { x.cmds <- c }

// SetConnected changes the connection state; while disconnected nothing
// is acknowledged.
func (x *Exam) SetConnected(ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.connected, x.autoAck = ok, ok
	if ok {
		x.acked = x.next
	}
}

// SetServerState sets the state the backend reported at the last welcome.
func (x *Exam) SetServerState(s string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.serverState = s
}

// SetProblem makes Problem return err (capture stopped, disk full).
func (x *Exam) SetProblem(err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.problem = err
}

// HoldFinish makes Finish wait until ReleaseFinish (to see the drain).
func (x *Exam) HoldFinish() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.finishGate = make(chan struct{})
}

// ReleaseFinish lets a held Finish complete with err.
func (x *Exam) ReleaseFinish(err error) {
	x.mu.Lock()
	g := x.finishGate
	x.finishErr = err
	x.mu.Unlock()
	if g != nil {
		close(g)
	}
}

// Stop makes the backend stop the session with err.
func (x *Exam) Stop(err error) {
	x.mu.Lock()
	x.stopErr = err
	x.mu.Unlock()
	x.stopOnce.Do(func() { close(x.stopped) })
}

// Focus and Clipboard are what the monitor hooks saw.
func (x *Exam) Focus() []bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]bool(nil), x.focus...)
}

// Clipboard lists the clipboard operations reported.
func (x *Exam) Clipboard() []lockdown.ClipboardOp {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]lockdown.ClipboardOp(nil), x.clipboard...)
}

// Finished and Aborted say how the exam ended.
func (x *Exam) Finished() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.finished
}

// Aborted reports whether the exam was stopped without finishing.
func (x *Exam) Aborted() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.aborted
}

// Camera implements client.ExamRun.
func (x *Exam) Camera() exam.Camera {
	if x.camera == nil {
		return nil
	}
	return x.camera
}

// SendStill implements client.ExamRun.
func (x *Exam) SendStill(jpg []byte, source, why string) (uint64, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.event("still", map[string]any{"bytes": len(jpg)})
	return x.event("snapshot.taken", map[string]any{"why": why}), nil
}

// Acked implements client.ExamRun.
func (x *Exam) Acked() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.acked
}

// Status implements client.ExamRun.
func (x *Exam) Status() transport.Status {
	x.mu.Lock()
	defer x.mu.Unlock()
	return transport.Status{Connected: x.connected, ServerState: x.serverState, Spool: transport.SpoolStatus{
		NextSeq: x.next + 1, Acked: x.acked, Unacked: int(x.next - x.acked), UnackedBytes: int64(x.next-x.acked) * 1500}}
}

// Commands implements client.ExamRun.
func (x *Exam) Commands() <-chan transport.Command { return x.cmds }

// Stopped implements client.ExamRun.
func (x *Exam) Stopped() <-chan struct{} { return x.stopped }

// Err implements client.ExamRun.
func (x *Exam) Err() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.stopErr
}

// Problem implements client.ExamRun.
func (x *Exam) Problem() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.problem
}

// Event implements client.ExamRun.
func (x *Exam) Event(typ string, fields map[string]any) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.event(typ, fields)
	return nil
}

// Snapshot implements client.ExamRun.
func (x *Exam) Snapshot(ctx context.Context, why string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.event("snapshot.taken", map[string]any{"why": why})
	return nil
}

// FocusLost implements client.ExamRun.
func (x *Exam) FocusLost(at time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.focus = append(x.focus, false)
}

// FocusGained implements client.ExamRun.
func (x *Exam) FocusGained(at time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.focus = append(x.focus, true)
}

// ClipboardUsed implements client.ExamRun.
func (x *Exam) ClipboardUsed(at time.Time, op lockdown.ClipboardOp) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.clipboard = append(x.clipboard, op)
}

// Finish implements client.ExamRun.
func (x *Exam) Finish(ctx context.Context, reason string) (*exam.Receipt, error) {
	x.mu.Lock()
	x.event("session.finished", map[string]any{"reason": reason})
	gate := x.finishGate
	x.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.finishErr != nil {
		return nil, x.finishErr
	}
	x.finished = true
	x.acked = x.next
	return &exam.Receipt{SessionID: "s_3f1c9a0b7d", Exam: "Physics midterm", Messages: x.next,
		ThisRun: map[string]int{"camera": 5400, "screen": 360, "events": int(x.next), "stills": 5}, Bytes: 41 << 20,
		ClientDigest: "5c1f0e9ab4d2c7e18f3a6b9d0c2e4f6a8b1d3e5f7a9c0b2d4e6f8a1c3e5b7d9f",
		ServerDigest: "5c1f0e9ab4d2c7e18f3a6b9d0c2e4f6a8b1d3e5f7a9c0b2d4e6f8a1c3e5b7d9f", Match: true,
		FinishedAt: time.Date(2026, 11, 26, 11, 42, 0, 0, time.UTC)}, nil
}

// Abort implements client.ExamRun.
func (x *Exam) Abort(ctx context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.aborted = true
	return nil
}

// Camera is a fake camera that shows a drawn scene.
type Camera struct {
	mu     sync.Mutex
	closed bool
	n      int
}

// ErrClosed is returned by a closed fake camera.
var ErrClosed = errors.New("flowtest: camera closed")

// Snapshot implements client.Camera: a JPEG of a simple drawn face that
// moves a little from frame to frame.
func (c *Camera) Snapshot(ctx context.Context, maxWidth int) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	c.n++
	var b bytes.Buffer
	jpeg.Encode(&b, Scene(320, 240, c.n), &jpeg.Options{Quality: 80})
	return b.Bytes(), nil
}

// Close implements client.Preview.
func (c *Camera) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

// Closed reports whether Close was called.
func (c *Camera) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Scene draws a webcam-like picture: a wall, a desk and a head.
func Scene(w, h, frame int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	cx := float64(w)/2 + 6*math.Sin(float64(frame)/5)
	cy := float64(h) * 0.42
	r := float64(h) * 0.17
	for y := range h {
		for x := range w {
			c := color.RGBA{R: uint8(190 - y/6), G: uint8(200 - y/7), B: uint8(210 - y/8), A: 255}
			if y > h*4/5 {
				c = color.RGBA{R: 120, G: 90, B: 60, A: 255}
			}
			dx, dy := float64(x)-cx, float64(y)-cy
			if dx*dx+dy*dy < r*r {
				c = color.RGBA{R: 224, G: 180, B: 150, A: 255}
			}
			sy := float64(y) - (cy + 2.3*r)
			if y < h*4/5 && sy > -r && dx*dx/(2.2*2.2)+sy*sy < r*r*1.2 {
				c = color.RGBA{R: 60, G: 90, B: 150, A: 255}
			}
			img.Set(x, y, c)
		}
	}
	return img
}
