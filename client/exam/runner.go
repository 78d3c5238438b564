package exam

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/invigil/invigil/lockdown"
)

// The exam runner: Begin is the one sequence that starts an exam after
// the student consented, for the desktop flow (client.RealEnv.StartExam) and
// for `invigil run --headless` alike; the *Exam it returns answers the
// proctor's keyframe and snapshot commands itself (ForceKeyframe,
// Snapshot) and ends with Finish or Abort. What the caller adds is the
// person's side: the flow's screens, or the console's lines.

// BeginOptions say how an exam starts.
type BeginOptions struct {
	// Sources are the capture devices (Sources: the policy's, or "none",
	// "test").
	Sources Sources
	// JournalPath is lockdown's journal ("": journal.DefaultPath()).
	JournalPath string
	// Cameras is the camera list lockdown watches.
	Cameras []lockdown.Camera
	// Consent says how the student consented ("button",
	// "--accept-consent"): the consent.accepted event's "how".
	Consent string
	// Spooled, if set, is called once the session's spool is open and
	// uploading, before consent is recorded.
	Spooled func()
	// Ask and OnViolation are lockdown's monitor's (ExamOptions).
	Ask         lockdown.AskFunc
	OnViolation func(lockdown.Violation)
	// Monitor overrides the monitor's intervals (tests).
	Monitor lockdown.MonitorOptions
	Log     *slog.Logger
}

// The steps of Begin, for StartError.
const (
	StepCapture  = "capture"  // opening the camera or the screen
	StepSpool    = "spool"    // opening the spool and the upload
	StepConsent  = "consent"  // spooling the consent.accepted event
	StepLockdown = "lockdown" // the lockdown journal and monitor
)

// StartError is a failure of Begin at one of its steps. Its text is the
// cause's, with what was being done for the spool and lockdown steps.
type StartError struct {
	Step string
	Dir  string // StepSpool: the spool directory
	Err  error
}

func (e *StartError) Error() string {
	switch e.Step {
	case StepSpool:
		return fmt.Sprintf("open the spool in %s: %v", e.Dir, e.Err)
	case StepLockdown:
		return "start lockdown: " + e.Err.Error()
	}
	return e.Err.Error()
}

func (e *StartError) Unwrap() error { return e.Err }

// Begin starts the recording of a joined session after consent: it opens
// capture, starts the session (spool and upload), records consent
// (consent.accepted), and starts lockdown and the media (StartExam). On an
// error (a *StartError) nothing it opened stays open; the spool keeps what
// was recorded.
func Begin(ctx context.Context, j *Joined, opts BeginOptions) (*Exam, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cam, scr, err := OpenCapture(ctx, j.Policy, opts.Sources, log)
	if err != nil {
		return nil, &StartError{Step: StepCapture, Err: err}
	}
	sess, err := Start(j, SessionOptions{Log: log})
	if err != nil {
		CloseStreams(cam, scr)
		return nil, &StartError{Step: StepSpool, Dir: j.SpoolDir, Err: err}
	}
	if opts.Spooled != nil {
		opts.Spooled()
	}
	if err := sess.Event("consent.accepted", map[string]any{"how": opts.Consent}); err != nil {
		CloseStreams(cam, scr)
		sess.Close()
		return nil, &StartError{Step: StepConsent, Err: err}
	}
	exam, err := StartExam(ctx, sess, ExamOptions{
		Camera: cam, Screen: scr, Disabled: opts.Sources.Disabled(j.Policy), JournalPath: opts.JournalPath,
		Ask: opts.Ask, Cameras: opts.Cameras, OnViolation: opts.OnViolation, Log: log,
		Monitor: opts.Monitor,
	})
	if err != nil {
		CloseStreams(cam, scr)
		sess.Close()
		return nil, &StartError{Step: StepLockdown, Err: err}
	}
	return exam, nil
}
