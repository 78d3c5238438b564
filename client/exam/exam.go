package exam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/invigil/invigil/capture"
	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/lockdown/journal"
	"github.com/invigil/invigil/lockdown/policy"
)

// Sources says which capture devices to use. Empty fields follow the
// policy: its camera on the first real camera, its screen on every display.
// "none" turns a source off even if the policy wants it (the proctor sees a
// capture.disabled event); "test" picks the synthetic test source, which is
// never chosen unless asked for.
type Sources struct {
	Camera string
	Screen string
}

// Disabled names the tracks the policy records but src turns off ("none"),
// for the proctor (ExamOptions.Disabled).
func (src Sources) Disabled(p *policy.Policy) []string {
	var out []string
	if src.Camera == "none" && p.Capture.Camera.Enabled {
		out = append(out, "camera")
	}
	if src.Screen == "none" && p.Capture.Screen.Enabled {
		out = append(out, "screen")
	}
	return out
}

// CloseStreams closes the streams that are open (nil ones are skipped).
func CloseStreams(ss ...*capture.Stream) {
	for _, s := range ss {
		if s != nil {
			s.Close()
		}
	}
}

// CaptureConfigs turns the policy's capture section and src into capture
// configurations. A nil config means that source is off.
func CaptureConfigs(p *policy.Policy, src Sources) (cam, scr *capture.Config) {
	pc := p.Capture
	if src.Camera != "none" && (pc.Camera.Enabled || src.Camera != "") {
		c := capture.DefaultCameraConfig()
		c.Source = src.Camera
		applyStream(&c, pc.Camera, true)
		cam = &c
	}
	if src.Screen != "none" && (pc.Screen.Enabled || src.Screen != "") {
		c := capture.DefaultScreenConfig()
		if src.Screen != "" {
			c.Source = src.Screen
		}
		applyStream(&c, pc.Screen, false)
		scr = &c
	}
	return cam, scr
}

func applyStream(c *capture.Config, s policy.Stream, camera bool) {
	if camera && s.Width > 0 && s.Height > 0 {
		c.Width, c.Height = s.Width, s.Height
	}
	if s.FPS > 0 {
		c.FPS = s.FPS
	}
	if s.BitrateKbps > 0 {
		c.BitrateKbps = s.BitrateKbps
	}
	if s.KeyframeIntervalS > 0 {
		c.KeyframeInterval = time.Duration(s.KeyframeIntervalS * float64(time.Second))
	}
}

// OpenCapture opens the streams the policy and src ask for. On an error
// nothing stays open. Errors wrap capture's ErrNoCamera, ErrCameraBusy or
// ErrNoDisplay where that is the cause, so the UI can say what to do.
func OpenCapture(ctx context.Context, p *policy.Policy, src Sources, log *slog.Logger) (cam, scr *capture.Stream, err error) {
	camCfg, scrCfg := CaptureConfigs(p, src)
	if camCfg != nil {
		if cam, err = capture.OpenCamera(ctx, *camCfg, log); err != nil {
			return nil, nil, fmt.Errorf("camera: %w", err)
		}
	}
	if scrCfg != nil {
		if scr, err = capture.OpenScreen(ctx, *scrCfg, log); err != nil {
			if cam != nil {
				cam.Close()
			}
			return nil, nil, fmt.Errorf("screen: %w", err)
		}
	}
	return cam, scr, nil
}

// LockdownCameras is capture's camera list in lockdown's terms; nil if the
// list could not be read (lockdown then reports "unknown").
func LockdownCameras() []lockdown.Camera {
	devs, err := capture.Cameras()
	if err != nil {
		return nil
	}
	out := make([]lockdown.Camera, 0, len(devs))
	for _, d := range devs {
		out = append(out, lockdown.Camera{Label: d.Name, Virtual: d.Virtual, VirtualReason: d.VirtualReason})
	}
	return out
}

// Camera is a live camera the UI previews and the flow takes stills from
// (the ID photo, the room scan). *capture.Stream implements it.
type Camera interface {
	// Snapshot returns a JPEG of the latest frame, at most maxWidth wide.
	Snapshot(ctx context.Context, maxWidth int) ([]byte, error)
}

// Exam is a running exam: the session, its media and the lockdown monitor
// with the journal of changes it made. The session's methods (Event,
// SendStill, Acked, Status, Commands, Stopped, Err, ...) are the exam's;
// stop an exam with Finish or Abort, which also stop capture and lockdown.
// *Exam is the desktop flow's running exam (client.ExamRun).
type Exam struct {
	*Session
	media   *Media
	monitor *lockdown.Monitor
	journal *journal.Journal
	log     *slog.Logger
	browser examBrowser // browser.go
}

// ExamOptions configure StartExam.
type ExamOptions struct {
	Camera, Screen *capture.Stream // opened by OpenCapture after consent; either may be nil
	Disabled       []string        // sources the student or IT turned off against the policy
	JournalPath    string          // default journal.DefaultPath()
	Ask            lockdown.AskFunc
	Cameras        []lockdown.Camera
	// OnViolation, if set, also sees every violation event (the UI shows
	// them); it runs on a monitor goroutine and must not block.
	OnViolation func(lockdown.Violation)
	Log         *slog.Logger
	// MonitorOptions override the monitor's intervals (tests, benchmarks).
	Monitor lockdown.MonitorOptions
}

// StartExam starts lockdown and media for a joined, consented session. It
// undoes whatever a crashed earlier run left in the journal first. Begin
// is the whole sequence (capture, session, consent, StartExam); use it.
func StartExam(ctx context.Context, sess *Session, opts ExamOptions) (*Exam, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	e := &Exam{Session: sess, log: opts.Log}
	path := opts.JournalPath
	if path == "" {
		var err error
		if path, err = journal.DefaultPath(); err != nil {
			return nil, err
		}
	}
	j, rep, err := journal.Open(ctx, path, journal.Options{})
	if err != nil {
		return nil, fmt.Errorf("lockdown journal: %w", err)
	}
	if len(rep.Results) > 0 {
		sess.EventValue("lockdown.recovered", newRedactor().resetReport(rep))
	}
	e.journal = j
	mo := opts.Monitor
	send := sess.ViolationSink()
	mo.Sink = lockdown.SinkFunc(func(v lockdown.Violation) {
		send.Violation(v)
		if opts.OnViolation != nil {
			opts.OnViolation(v)
		}
	})
	mo.Journal, mo.Ask, mo.Cameras, mo.Logger = j, opts.Ask, opts.Cameras, opts.Log
	if e.monitor, err = lockdown.NewMonitor(sess.Joined().Policy, mo); err != nil {
		j.Close(ctx)
		return nil, err
	}
	for _, d := range opts.Disabled {
		sess.Event("capture.disabled", map[string]any{"track": d})
	}
	e.media = StartMedia(sess, MediaOptions{Camera: opts.Camera, Screen: opts.Screen, Log: opts.Log})
	return e, nil
}

// Media is the exam's media.
func (e *Exam) Media() *Media { return e.media }

// Camera is the recording camera (for the ID photo and the room scan), or
// nil when none records.
func (e *Exam) Camera() Camera {
	if e.media.cam == nil {
		return nil
	}
	return e.media.cam
}

// Problem is a lasting failure of the recording, if any: the spool or the
// disk is full, capture failed, or part of the spool was lost (Damaged).
func (e *Exam) Problem() error {
	if err := e.SendErr(); err != nil {
		return err
	}
	if err := e.media.Err(); err != nil {
		return err
	}
	return e.Damaged()
}

// Snapshot answers a proctor's snapshot command (its id is why): within
// 10 s a still of the camera (or, without one, the screen) goes on the
// stills track; when none can be taken, a snapshot.failed event tells the
// proctor why, and Snapshot returns the error.
func (e *Exam) Snapshot(ctx context.Context, commandID string) error {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := e.media.Snapshot(sctx, commandID); err != nil {
		e.Event("snapshot.failed", map[string]any{"command_id": commandID, "error": err.Error()})
		return err
	}
	return nil
}

// FocusLost, FocusLostTo, FocusGained and ClipboardUsed tell lockdown's
// monitor what the exam window saw (the desktop app's hooks).
func (e *Exam) FocusLost(at time.Time) { e.monitor.FocusLost(at) }

// FocusLostTo is FocusLost naming the program that took the focus.
func (e *Exam) FocusLostTo(at time.Time, fg lockdown.Foreground) { e.monitor.FocusLostTo(at, fg) }

// FocusGained: the exam window has the focus again.
func (e *Exam) FocusGained(at time.Time) { e.monitor.FocusGained(at) }

// ClipboardUsed: the student used the clipboard in the exam window.
func (e *Exam) ClipboardUsed(at time.Time, op lockdown.ClipboardOp) { e.monitor.ClipboardUsed(at, op) }

// stop ends capture and lockdown: violations still open are ended (and
// sent), and every change lockdown made is undone.
func (e *Exam) stop(ctx context.Context) error {
	var errs []error
	errs = append(errs, e.closeBrowser())
	errs = append(errs, e.media.Close())
	errs = append(errs, e.monitor.Close())
	res, err := e.journal.Close(ctx)
	errs = append(errs, err)
	for _, r := range res {
		if r.Error != "" {
			e.log.Warn("lockdown change not undone", "change", r.Change.Summary, "err", r.Error)
		}
	}
	return errors.Join(errs...)
}

// Finish stops capture and lockdown, then finishes the session (upload
// everything, wipe the spool) and returns the receipt.
func (e *Exam) Finish(ctx context.Context, reason string) (*Receipt, error) {
	if err := e.stop(ctx); err != nil {
		e.log.Warn("stopping the exam", "err", err)
	}
	return e.Session.Finish(ctx, reason)
}

// Abort stops capture and lockdown without finishing: the spool keeps what
// is not uploaded, for the next run.
func (e *Exam) Abort(ctx context.Context) error {
	return errors.Join(e.stop(ctx), e.Session.Close())
}
