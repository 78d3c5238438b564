package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/client/launch"
	"github.com/invigil/invigil/client/ui"
	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/transport"
)

func init() {
	commands["run"] = command{summary: "join an exam and run it (the desktop app, or --headless)", run: runRun}
}

// runFlags are the flags of `invigil run`.
type runFlags struct {
	headless      bool
	server        string
	code          string
	serverKey     string
	acceptConsent bool
	duration      time.Duration
	spool         string
	asJSON        bool
	hbRate        float64
	hbSize        int
	drainTimeout  time.Duration
	logLevel      string
	level         slog.Level    // logLevel parsed
	cfg           launch.Config // the managed configuration with the flags over it
	camera        string
	screen        string
	journal       string

	// The desktop app's (ui.go).
	link          string // an invigil:// link, the one argument
	config        string
	uiTestControl string
	roomScan      time.Duration
}

func parseRunFlags(args []string, stderr io.Writer) (*runFlags, error) {
	f := &runFlags{}
	fs := flag.NewFlagSet("invigil run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&f.headless, "headless", false, "run without a window (labs, tests)")
	fs.StringVar(&f.server, "server", "", "backend URL, e.g. https://proctor.example.edu")
	fs.StringVar(&f.code, "code", "", "exam join code")
	fs.StringVar(&f.serverKey, "server-key", "", `pinned backend public key ("ed25519:..."; see 'invigild key')`)
	fs.BoolVar(&f.acceptConsent, "accept-consent", false, "accept the privacy notice (headless runs must say so)")
	fs.DurationVar(&f.duration, "duration", 0, "how long the headless exam runs before finishing")
	fs.StringVar(&f.spool, "spool", "", "spool directory (default: the user cache directory)")
	fs.BoolVar(&f.asJSON, "json", false, "print a JSON summary as the last line of stdout")
	fs.Float64Var(&f.hbRate, "heartbeat-rate", 1, "heartbeat messages per second (a liveness track)")
	fs.IntVar(&f.hbSize, "heartbeat-size", 64, "bytes per heartbeat message")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 5*time.Minute, "how long to wait for the upload to finish")
	fs.StringVar(&f.logLevel, "log-level", "warn", "debug, info, warn or error")
	fs.StringVar(&f.camera, "camera", "", `camera: "" (as the policy says, first real camera), a device id or node (video0), "test" (synthetic), or "none"`)
	fs.StringVar(&f.screen, "screen", "", `screen: "" (as the policy says: every display), "all", a display number (0, 1...), "test" (synthetic), or "none"`)
	fs.StringVar(&f.journal, "journal", "", "lockdown journal file (default: the user's; see 'invigil reset')")
	fs.StringVar(&f.config, "config", "", "managed configuration file (default: the machine-wide one, see docs/client.md)")
	if ui.TestDriverBuilt { // only in the tests' builds (-tags invigil_uitest)
		fs.StringVar(&f.uiTestControl, "ui-test-control", "", "tests only: serve the desktop app's test driver on this unix socket (or tcp:127.0.0.1:PORT)")
	}
	fs.DurationVar(&f.roomScan, "room-scan", 12*time.Second, "how long the desktop app's room scan lasts (3s to 2m)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := f.level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	// Both runs honour the managed configuration: a lab machine's server,
	// pinned key, spool and journal apply whether or not a window opens.
	// Flags win, except against the keys the machine file sets (launch.LoadSources).
	cfg, err := launch.Load(launch.Inputs{Path: f.config, Flags: launch.Config{
		Server: f.server, ServerKey: f.serverKey, SpoolDir: f.spool, JournalPath: f.journal,
		Camera: f.camera, Screen: f.screen,
	}})
	if err == nil {
		// The machine file's spool and journal folders are per user (launch.Config.PrepareDirs).
		if err = cfg.PrepareDirs(); err != nil && cfg.Machine != "" {
			err = &launch.ConfigFileError{Path: cfg.Machine, Err: err}
		}
	}
	if err != nil {
		return f, &configError{err} // configFailed (ui.go) reports it
	}
	f.cfg = cfg
	if !f.headless {
		// The desktop app: flags and the managed configuration are
		// merged and validated by launch.Load (ui.go).
		switch {
		case fs.NArg() > 1:
			return nil, fmt.Errorf("unexpected argument %q", fs.Arg(1))
		case f.roomScan < 3*time.Second || f.roomScan > 2*time.Minute:
			return nil, errors.New("--room-scan must be between 3s and 2m")
		}
		f.link = fs.Arg(0)
		return f, nil
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	f.server, f.serverKey, f.spool, f.journal = cfg.Server, cfg.KeyFor(cfg.Server), cfg.SpoolDir, cfg.JournalPath
	switch {
	case f.server == "":
		return nil, errors.New("--server URL is required (or a server in the managed configuration)")
	case f.code == "":
		return nil, errors.New("--code is required")
	case !f.acceptConsent:
		return nil, errors.New("a headless run records camera and screen: pass --accept-consent to accept the privacy notice")
	case f.duration <= 0:
		return nil, errors.New("--duration must be positive, e.g. --duration 10m")
	case f.hbRate < 0 || f.hbRate > 1000:
		return nil, errors.New("--heartbeat-rate must be between 0 and 1000")
	case f.hbSize < 16 || f.hbSize > 1<<20:
		return nil, errors.New("--heartbeat-size must be between 16 and 1048576")
	}
	return f, nil
}

// runSummary is the JSON summary of a headless run.
type runSummary struct {
	SessionID      string         `json:"session_id"`
	Exam           string         `json:"exam"`
	Resumed        bool           `json:"resumed"`
	Unpinned       bool           `json:"policy_key_unpinned"`
	ConfigKey      string         `json:"config_key"`
	MessagesSent   uint64         `json:"messages_sent"`  // all messages of the session, every run
	MessagesAcked  uint64         `json:"messages_acked"` // of those, acknowledged by the backend
	ThisRun        map[string]int `json:"messages_this_run"`
	Violations     int            `json:"violations"` // violation.open events this run
	Check          string         `json:"check"`      // the system check's result: pass, warn (fail stops the run)
	Reconnects     int            `json:"reconnects"`
	Digest         string         `json:"digest"`
	ServerDigest   string         `json:"server_digest"`
	DigestMatch    bool           `json:"digest_match"`
	EndedByProctor bool           `json:"ended_by_proctor"`
	Seconds        float64        `json:"seconds"`
	Error          string         `json:"error,omitempty"`
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseRunFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if ce := (*configError)(nil); errors.As(err, &ce) {
		return configFailed(f, ce.err, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "invigil run: %v\n", err)
		return exitUsage
	}
	if !f.headless {
		return runDesktop(ctx, f, stderr)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: f.level}))
	start := time.Now()

	jctx, cancel := context.WithTimeout(ctx, time.Minute)
	j, err := exam.Join(jctx, exam.JoinOptions{Server: f.server, Code: f.code, ServerKey: f.serverKey, SpoolDir: f.spool, Log: log})
	cancel()
	if err != nil {
		return joinFailure(err, f.server, stderr)
	}
	if j.Unpinned {
		fmt.Fprintf(stderr, "invigil: WARNING: the backend's key is not pinned; the policy was checked against the key it sent (%s). Pin it with --server-key.\n", j.Resp.ServerKey)
	}
	sum := runSummary{SessionID: j.Resp.SessionID, Exam: j.Resp.Exam.Name, Resumed: j.Resumed, Unpinned: j.Unpinned, ConfigKey: j.ConfigKey}

	// System check: a failure blocks the start, warnings go to the proctor.
	cams := exam.LockdownCameras()
	report := lockdown.Check(ctx, j.Policy, lockdown.CheckOptions{Cameras: cams})
	sum.Check = string(report.Status)
	for _, c := range report.Checks {
		if c.Status == lockdown.StatusWarn || c.Status == lockdown.StatusFail {
			fmt.Fprintf(stderr, "invigil: check %s: %s: %s\n", c.Status, c.Title, c.Summary)
			for _, fix := range c.Fixes {
				fmt.Fprintf(stderr, "invigil:   -> %s\n", fix)
			}
		}
	}
	if report.Failed() {
		fmt.Fprintln(stderr, "invigil: the system check failed; fix the problems above and run again")
		return exitCheckFailed
	}

	// Consent was given with --accept-consent: the exam starts, as the
	// desktop app's does (exam.Begin).
	src := exam.Sources{Camera: f.camera, Screen: f.screen}
	if _, scr := exam.CaptureConfigs(j.Policy, src); scr != nil {
		tuneMemory()
	}
	var violations atomic.Int64
	ex, err := exam.Begin(ctx, j, exam.BeginOptions{
		Sources: src, JournalPath: f.journal, Cameras: cams, Consent: "--accept-consent", Log: log,
		Spooled: func() {
			verb := "joined"
			if j.Resumed {
				verb = "resumed"
			}
			fmt.Fprintf(stderr, "invigil: %s session %s of %q\n", verb, j.Resp.SessionID, j.Resp.Exam.Name)
		},
		OnViolation: func(v lockdown.Violation) {
			if v.Phase == lockdown.PhaseOpen {
				violations.Add(1)
				fmt.Fprintf(stderr, "invigil: violation %s (%s): %s\n", v.Code, v.Severity, v.Summary)
			}
		},
	})
	var se *exam.StartError
	switch {
	case errors.As(err, &se) && se.Step == exam.StepCapture:
		fmt.Fprintf(stderr, "invigil: cannot start capture: %v\n", se.Err)
		return exitCapture
	case errors.As(err, &se) && se.Step == exam.StepConsent:
		return spoolFailure(se.Err, &sum, stderr)
	case err != nil:
		fmt.Fprintf(stderr, "invigil: cannot %v\n", err) // open the spool in ..., start lockdown: ...
		return exitFailure
	}
	defer ex.Session.Close() // after Finish or Abort, this does nothing
	if err := ex.OpenBrowser(ctx); err != nil {
		fmt.Fprintf(stderr, "invigil: the exam page could not be opened (the recording goes on): %v\n", err)
	}
	code := runHeadless(ctx, f, ex, &sum, stderr)
	sum.Violations = int(violations.Load())
	st := ex.Status()
	sum.Reconnects = st.Reconnects
	sum.Seconds = time.Since(start).Seconds()
	if sum.MessagesSent == 0 {
		sum.MessagesSent, sum.MessagesAcked, sum.Digest = st.Spool.NextSeq-1, st.Spool.Acked, st.Spool.Digest
	}
	if f.asJSON {
		b, _ := json.Marshal(sum)
		fmt.Fprintln(stdout, string(b))
	}
	return code
}

// runHeadless produces the synthetic tracks until the duration is over or a
// proctor ends the attempt, then finishes.
func runHeadless(ctx context.Context, f *runFlags, ex *exam.Exam, sum *runSummary, stderr io.Writer) int {
	if err := ex.Event("session.started", map[string]any{"headless": true, "resumed": sum.Resumed}); err != nil {
		ex.Abort(context.Background())
		return spoolFailure(err, sum, stderr)
	}
	hb := newHeartbeat(f.hbRate, f.hbSize)
	defer hb.stop()
	deadline := time.NewTimer(f.duration)
	defer deadline.Stop()
	reason := "duration elapsed"
loop:
	for {
		select {
		case <-ctx.Done():
			ex.Abort(context.Background())
			fmt.Fprintln(stderr, "invigil: interrupted; the spool keeps everything not yet uploaded, run again to resume")
			sum.Error = "interrupted"
			return exitFailure
		case <-deadline.C:
			break loop
		case <-ex.Stopped():
			err := ex.Err()
			ex.Abort(context.Background())
			fmt.Fprintf(stderr, "invigil: the backend stopped the session: %v\n", err)
			sum.Error = errString(err)
			if errors.Is(err, transport.ErrConfigKeyMismatch) {
				return exitBadPolicy
			}
			return exitJoinRefused
		case cmd := <-ex.Commands():
			if cmd.Command == transport.CommandKeyframe { // a live viewer wants a picture now
				ex.ForceKeyframe(cmd.Text)
				continue
			}
			fmt.Fprintf(stderr, "invigil: proctor %s: %s\n", cmd.Command, cmd.Text)
			switch cmd.Command {
			case transport.CommandEnd:
				sum.EndedByProctor = true
				reason = "ended by proctor"
				break loop
			case transport.CommandWarn:
				ex.Event("warning.acknowledged", map[string]any{"command_id": cmd.ID})
			case transport.CommandSnapshot:
				ex.Snapshot(ctx, cmd.ID) // a failure is the proctor's to see
			}
		case <-hb.tick():
			if err := ex.Send(hb.next()); err != nil {
				break loop
			}
		}
		if err := ex.SendErr(); err != nil {
			// Spool or disk full: capture has stopped; upload what is
			// spooled and report.
			reason = "spool full"
			break loop
		}
	}
	hb.stop()
	fmt.Fprintf(stderr, "invigil: finishing (%s); uploading what is left\n", reason)
	dctx, cancel := context.WithTimeout(ctx, f.drainTimeout)
	defer cancel()
	r, err := ex.Finish(dctx, reason)
	if err != nil {
		fmt.Fprintf(stderr, "invigil: upload not finished: %v; the spool in %s keeps it, run again to resume\n", err, f.spool)
		sum.Error = errString(err)
		return exitFailure
	}
	sum.MessagesSent, sum.MessagesAcked = r.Messages, r.Messages
	sum.ThisRun, sum.Digest, sum.ServerDigest, sum.DigestMatch = r.ThisRun, r.ClientDigest, r.ServerDigest, r.Match
	fmt.Fprintf(stderr, "invigil: finished; %d messages uploaded; receipt digest %s\n", r.Messages, shortDigest(r.ClientDigest))
	switch {
	case ex.SendErr() != nil:
		return spoolFailure(ex.SendErr(), sum, stderr)
	case ex.Media().Err() != nil:
		fmt.Fprintf(stderr, "invigil: capture failed during the exam: %v\n", ex.Media().Err())
		sum.Error = errString(ex.Media().Err())
		return exitCapture
	case sum.EndedByProctor:
		return exitEnded
	case ex.Damaged() != nil:
		fmt.Fprintf(stderr, "invigil: %v\n", ex.Damaged())
		sum.Error = errString(ex.Damaged())
		return exitSpoolLost
	}
	return exitOK
}

func spoolFailure(err error, sum *runSummary, stderr io.Writer) int {
	sum.Error = errString(err)
	fmt.Fprintf(stderr, "invigil: capture stopped: %v; everything recorded so far is kept and will upload\n", err)
	return exitSpoolFull
}

// joinFailure prints a one-line error for a failed join and picks the exit code.
func joinFailure(err error, server string, stderr io.Writer) int {
	switch {
	case errors.Is(err, exam.ErrUnreachable):
		fmt.Fprintf(stderr, "invigil: cannot reach the backend at %s: %v\n", server, rootCause(err))
		return exitUnreachable
	case errors.Is(err, exam.ErrBadPolicy):
		fmt.Fprintf(stderr, "invigil: the exam policy does not verify, refusing to start: %v\n", rootCause(err))
		return exitBadPolicy
	case errors.Is(err, exam.ErrJoinRefused):
		var re *transport.RemoteError
		if errors.As(err, &re) && re.Code == transport.CodeExamNotOpen && !re.OpensAt.IsZero() {
			fmt.Fprintf(stderr, "invigil: the exam is not open yet; it opens at %s\n", re.OpensAt.Local().Format(time.RFC1123))
		} else {
			fmt.Fprintf(stderr, "invigil: the backend refused to join: %v\n", rootCause(err))
		}
		return exitJoinRefused
	}
	fmt.Fprintf(stderr, "invigil: %v\n", err)
	return exitFailure
}

// rootCause is a join error's cause for a one-line message: what the
// backend said, or the error without its class (client.Cause).
func rootCause(err error) string {
	var re *transport.RemoteError
	if errors.As(err, &re) {
		return re.Error()
	}
	return exam.Cause(err).Error()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func shortDigest(d string) string {
	if len(d) > 16 {
		return d[:16] + "…"
	}
	return d
}

// heartbeat produces the synthetic heartbeat track: numbered messages at a
// fixed rate, so that a run without capture still streams and is checkable.
type heartbeat struct {
	t    *time.Ticker
	c    <-chan time.Time
	n    int
	size int
}

func newHeartbeat(rate float64, size int) *heartbeat {
	h := &heartbeat{size: size}
	if rate > 0 {
		h.t = time.NewTicker(time.Duration(float64(time.Second) / rate))
		h.c = h.t.C
	}
	return h
}

func (h *heartbeat) tick() <-chan time.Time { return h.c }

func (h *heartbeat) next() transport.Message {
	h.n++
	p := make([]byte, h.size)
	copy(p, fmt.Sprintf("heartbeat %d", h.n))
	return transport.Message{Kind: transport.KindData, Track: transport.TrackHeartbeat, Time: time.Now(), Payload: p}
}

func (h *heartbeat) stop() {
	if h.t != nil {
		h.t.Stop()
	}
	h.c = nil
}
