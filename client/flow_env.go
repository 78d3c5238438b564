package client

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/invigil/invigil/capture"
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/client/launch"
	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

// Env is what a Flow needs from the world: the backend, lockdown and the
// capture devices. RealEnv wires it to exam.Join, lockdown.Check, capture
// and exam.Begin; tests use a fake (client/flowtest).
type Env interface {
	// Join joins (or resumes) a session and verifies its policy. Errors
	// wrap exam.ErrUnreachable, exam.ErrJoinRefused or exam.ErrBadPolicy.
	Join(ctx context.Context, opts exam.JoinOptions) (*exam.Joined, error)
	// Check runs the system check once.
	Check(ctx context.Context, p *policy.Policy) lockdown.Report
	// CloseApps closes the given prohibited programs.
	CloseApps(ctx context.Context, procs []lockdown.ProcessFinding) []lockdown.CloseResult
	// SpeedTest measures the upload rate to the backend in bytes/s.
	SpeedTest(ctx context.Context, j *exam.Joined) (float64, error)
	// OpenPreview opens the camera for the check screen's preview only:
	// nothing read from it is sent. (nil, nil) when the policy records no
	// camera. Errors wrap capture.ErrNoCamera or capture.ErrCameraBusy
	// where that is the cause.
	OpenPreview(ctx context.Context, p *policy.Policy) (Preview, error)
	// StartExam starts the recording after consent (exam.Begin): capture,
	// the session (spool and upload), a consent.accepted event, lockdown's
	// monitor.
	StartExam(ctx context.Context, j *exam.Joined, hooks ExamHooks) (ExamRun, error)
}

// ReceiptSaver is an Env that keeps the receipt as files (RealEnv: in the
// documents folder). The flow saves the receipt when its Env is one;
// tests' fakes need not be.
type ReceiptSaver interface {
	// SaveReceipt saves the receipt and says where.
	SaveReceipt(r exam.ReceiptRecord) (exam.ReceiptFiles, error)
}

// Preview is a camera opened only to be shown; the flow closes it.
type Preview interface {
	exam.Camera
	Close() error
}

// ExamHooks are the flow's callbacks into a running exam.
type ExamHooks struct {
	// OnViolation sees every violation; it must not block.
	OnViolation func(lockdown.Violation)
	// Ask asks the student whether to close prohibited programs.
	Ask lockdown.AskFunc
}

// ExamRun is a running exam as the flow drives it: *exam.Exam, or a fake in
// tests (client/flowtest).
type ExamRun interface {
	// Camera is the recording camera, for the ID photo and room scan
	// previews; nil when none records.
	Camera() exam.Camera
	// SendStill sends a JPEG on the stills track with a snapshot.taken
	// event saying from where ("camera") and why ("id_photo"), and returns
	// the sequence number to wait for.
	SendStill(jpg []byte, source, why string) (uint64, error)
	// Acked is the highest sequence number the backend has stored.
	Acked() uint64
	// Status is the connection and spool status.
	Status() transport.Status
	// Commands are the proctor's commands.
	Commands() <-chan transport.Command
	// Stopped is closed when the backend stops the session for good; Err
	// says why.
	Stopped() <-chan struct{}
	Err() error
	// Problem is a lasting failure of capture or the spool, if any.
	Problem() error
	// Event sends an event.
	Event(typ string, fields map[string]any) error
	// Snapshot answers a proctor's snapshot command within 10 s; a
	// failure is told to the proctor (snapshot.failed).
	Snapshot(ctx context.Context, commandID string) error
	// Focus and clipboard hooks of lockdown's monitor.
	FocusLost(at time.Time)
	FocusGained(at time.Time)
	ClipboardUsed(at time.Time, op lockdown.ClipboardOp)
	// Finish stops capture, releases lockdown, uploads everything, wipes
	// the local data and returns the receipt.
	Finish(ctx context.Context, reason string) (*exam.Receipt, error)
	// Abort stops without finishing; the spool keeps what is not uploaded.
	Abort(ctx context.Context) error
}

// RealEnv is the Env of the real client.
type RealEnv struct {
	Config launch.Config
	Log    *slog.Logger
	HTTP   *http.Client
	// Monitor overrides lockdown's monitor intervals (tests).
	Monitor lockdown.MonitorOptions
	// ReceiptDir is where the receipt is saved ("": the documents folder).
	ReceiptDir string
}

func (e *RealEnv) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// Join implements Env.
func (e *RealEnv) Join(ctx context.Context, opts exam.JoinOptions) (*exam.Joined, error) {
	opts.HTTP, opts.Log = e.HTTP, e.log()
	return exam.Join(ctx, opts)
}

// Check implements Env.
func (e *RealEnv) Check(ctx context.Context, p *policy.Policy) lockdown.Report {
	return lockdown.Check(ctx, p, lockdown.CheckOptions{Cameras: e.cameras()})
}

// cameras is the camera list lockdown checks: the devices, or the
// synthetic source a test chose (--camera test or scene), which is the
// camera in use then.
func (e *RealEnv) cameras() []lockdown.Camera {
	switch e.Config.Camera {
	case "test", "scene":
		return []lockdown.Camera{{Label: "Invigil synthetic camera (" + e.Config.Camera + ")"}}
	}
	return exam.LockdownCameras()
}

// SaveReceipt implements ReceiptSaver: the receipt goes into ReceiptDir,
// or the documents folder (exam.DocumentsDir).
func (e *RealEnv) SaveReceipt(r exam.ReceiptRecord) (exam.ReceiptFiles, error) {
	dir := e.ReceiptDir
	if dir == "" {
		d, err := exam.DocumentsDir()
		if err != nil {
			return exam.ReceiptFiles{}, err
		}
		dir = d
	}
	return exam.SaveReceipt(dir, r)
}

// CloseApps implements Env.
func (e *RealEnv) CloseApps(ctx context.Context, procs []lockdown.ProcessFinding) []lockdown.CloseResult {
	return lockdown.CloseProcesses(ctx, procs, 3*time.Second)
}

// speedTestBytes is the network test's upload: enough to see the rate,
// small enough for a slow line (half a MiB takes 17 s at 30 kB/s).
const speedTestBytes = 512 << 10

// SpeedTest implements Env.
func (e *RealEnv) SpeedTest(ctx context.Context, j *exam.Joined) (float64, error) {
	return transport.SpeedTest(ctx, e.HTTP, j.Server, j.Resp.Token, speedTestBytes)
}

// OpenPreview implements Env.
func (e *RealEnv) OpenPreview(ctx context.Context, p *policy.Policy) (Preview, error) {
	cfg, _ := exam.CaptureConfigs(p, exam.Sources{Camera: e.Config.Camera, Screen: "none"})
	if cfg == nil {
		return nil, nil
	}
	c := *cfg
	c.FPS = min(c.FPS, 10)
	s, err := capture.OpenCamera(ctx, c, e.log())
	if err != nil {
		return nil, fmt.Errorf("camera: %w", err)
	}
	return s, nil
}

// StartExam implements Env: exam.Begin, as the headless run does, then the
// session.started event.
func (e *RealEnv) StartExam(ctx context.Context, j *exam.Joined, hooks ExamHooks) (ExamRun, error) {
	ex, err := exam.Begin(ctx, j, exam.BeginOptions{
		Sources:     exam.Sources{Camera: e.Config.Camera, Screen: e.Config.Screen},
		JournalPath: e.Config.JournalPath, Cameras: e.cameras(), Consent: "button",
		Ask: hooks.Ask, OnViolation: hooks.OnViolation, Monitor: e.Monitor, Log: e.log(),
	})
	if err != nil {
		return nil, err
	}
	ex.Event("session.started", map[string]any{"resumed": j.Resumed, "ui": "desktop"})
	return ex, nil
}
