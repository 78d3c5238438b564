package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/client/launch"
	"github.com/invigil/invigil/transport"
)

// start picks the first screen: a link, the configured server with a code
// from the command line, or the join screen.
func (f *Flow) start() {
	switch {
	case f.opts.Link != "":
		f.doOpenLink(f.opts.Link)
	case f.opts.Code != "" && f.cfg.Server != "":
		f.joinTarget(launch.Target{Server: f.cfg.Server, Code: f.opts.Code})
	default:
		f.showJoin("", f.opts.Code)
	}
}

// joining reports whether a session is past the join: links and retries
// must not disturb it.
func (f *Flow) joining() bool {
	return f.joined != nil || f.exam != nil
}

func (f *Flow) doOpenLink(link string) {
	if f.joining() && f.st.Screen != ScreenError {
		f.log.Info("ignoring a link: an exam is already under way")
		return
	}
	if link == "" {
		return // a second launch without a link: the UI raises the window
	}
	l, err := launch.ParseJoinLink(link)
	if err == nil {
		var t launch.Target
		if t, err = f.cfg.TargetForLink(l); err == nil {
			f.resetSession()
			f.joinTarget(t)
			return
		}
	}
	f.resetSession()
	f.showError(badLinkError(err), nil)
}

// showJoin shows the join screen, prefilled.
func (f *Flow) showJoin(server, code string) {
	if f.joining() && f.st.Screen != ScreenError {
		return
	}
	f.resetSession()
	f.stopRetry()
	if server == "" {
		server = f.cfg.Server
	}
	f.show(ScreenJoin)
	f.st.Join = f.joinState(server, code)
	f.publish()
}

// joinState is the join screen prefilled; with only_server the server
// cannot be changed (doJoinScreen then uses the configured one).
func (f *Flow) joinState(server, code string) *JoinState {
	return &JoinState{Server: server, ServerEditable: !f.cfg.OnlyServer, Code: code}
}

func (f *Flow) doJoinScreen(server, code string) {
	if f.st.Screen != ScreenJoin {
		return
	}
	problem := func(msg string) {
		f.st.Join.Problem, f.st.Join.Code = msg, code
		if f.st.Join.ServerEditable {
			f.st.Join.Server = server
		}
		f.publish()
	}
	code = strings.TrimSpace(code)
	server = strings.TrimSpace(server)
	if !f.st.Join.ServerEditable {
		server = f.cfg.Server
	}
	if server == "" {
		problem("Type the address of your exam server (your teacher or the exam's instructions give it).")
		return
	}
	s, err := launch.ParseTypedServer(server)
	if err != nil {
		detail := err.Error()
		if ae, ok := errors.AsType[*launch.ServerAddressError](err); ok {
			detail = ae.Problem
		}
		problem("The server address is not valid: " + detail + ".")
		return
	}
	if code == "" {
		problem("Type the join code your teacher gave you.")
		return
	}
	if !transport.ValidJoinCode(code) {
		problem("A join code has only letters, digits, - and _ (at most 64). Check it and try again.")
		return
	}
	f.joinTarget(launch.Target{Server: s, Code: code})
}

// resetSession forgets a joined session that has not started recording.
func (f *Flow) resetSession() {
	if f.exam != nil {
		return
	}
	f.closePreview()
	f.joined = nil
	f.checkDone = false
	f.st.ExamName = ""
}

// joinTarget joins t, showing a spinner.
func (f *Flow) joinTarget(t launch.Target) {
	f.stopRetry()
	f.target = t
	f.st.Server = t.Server
	f.show(ScreenBusy)
	f.st.Busy = &BusyState{Title: "Connecting to your exam", Detail: "Contacting " + hostOf(t.Server) + "…"}
	f.publish()
	opts := exam.JoinOptions{Server: t.Server, Code: t.Code, ServerKey: f.cfg.KeyFor(t.Server), SpoolDir: f.cfg.SpoolDir}
	f.goJob(func(ctx context.Context) func() {
		jctx, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		j, err := f.env.Join(jctx, opts)
		return func() { f.joinDone(t, j, err) }
	})
}

func (f *Flow) joinDone(t launch.Target, j *exam.Joined, err error) {
	if f.st.Screen != ScreenBusy || t != f.target {
		return // the student moved on
	}
	if err != nil {
		f.joinFailed(t, err)
		return
	}
	f.retryDelay = 0
	f.joined = j
	f.st.ExamName = j.Resp.Exam.Name
	if j.Policy != nil && j.Policy.Name != "" && f.st.ExamName == "" {
		f.st.ExamName = j.Policy.Name
	}
	f.log.Info("joined", "session", j.Resp.SessionID, "resumed", j.Resumed, "unpinned", j.Unpinned)
	f.startCheck()
}

func (f *Flow) joinFailed(t launch.Target, err error) {
	f.log.Warn("join failed", "server", t.Server, "err", err)
	retry := func() { f.joinTarget(t) }
	var re *transport.RemoteError
	switch {
	case errors.Is(err, exam.ErrUnreachable), errors.Is(err, context.DeadlineExceeded) && f.ctx.Err() == nil:
		e := unreachableError(t.Server, err, f.spoolHasSession(), !f.cfg.OnlyServer)
		e.RetryAt = f.now().Add(f.nextRetryDelay())
		f.showError(e, retry)
	case errors.Is(err, exam.ErrBadPolicy):
		f.showError(badPolicyError(err), retry)
	case errors.As(err, &re) && re.Code == transport.CodeExamNotOpen:
		e := notOpenError(re)
		if !re.OpensAt.IsZero() {
			// Join by itself a moment after the exam opens.
			e.RetryAt = f.now().Add(max(re.OpensAt.Sub(f.now())+2*time.Second, f.opts.RetryMin))
		}
		f.showError(e, retry)
	case errors.As(err, &re) && (re.Code == transport.CodeUnknownCode || re.Code == transport.CodeBadRequest):
		f.show(ScreenJoin)
		f.st.Join = f.joinState(t.Server, t.Code)
		f.st.Join.Problem = fmt.Sprintf("No exam has the code “%s” on this server. Check the code your teacher gave you and type it again.", t.Code)
		f.publish()
	case errors.Is(err, exam.ErrJoinRefused):
		f.showError(refusedError(err), nil)
	default:
		f.showError(otherError("Invigil could not start", err), retry)
	}
}

// startRecording starts capture and the session after consent.
func (f *Flow) startRecording(j *exam.Joined) {
	if f.exam != nil || f.joined != j {
		return
	}
	f.show(ScreenBusy)
	f.st.Busy = &BusyState{Title: "Starting the recording", Detail: "Opening the camera and the screen recording…"}
	f.publish()
	hooks := ExamHooks{OnViolation: f.onViolation, Ask: f.ask}
	f.goJobOwning(func(ctx context.Context) (func(), func()) {
		ex, err := f.env.StartExam(ctx, j, hooks)
		release := func() {
			// The flow stopped first: stop the recording it will not see;
			// the spool keeps it for the next start.
			if ex != nil {
				f.abortExam(ex)
			}
		}
		return func() {
			if f.joined != j {
				release()
				return
			}
			if err != nil {
				f.log.Warn("starting the exam", "err", err)
				retry := func() { f.startRecording(j) }
				if isCameraErr(err) {
					f.showError(cameraError(err), retry)
				} else {
					f.showError(otherError("The recording could not start", err), retry)
				}
				return
			}
			f.examStarted(ex)
		}, release
	})
}

// doRetry retries what the error screen is about.
func (f *Flow) doRetry() {
	if f.st.Screen != ScreenError || f.retryFn == nil {
		return
	}
	fn := f.retryFn
	f.stopRetry()
	fn()
}

// showError shows an error screen; retry, if not nil, is what "Try again"
// (or the automatic retry at e.RetryAt) does.
func (f *Flow) showError(e *ErrorState, retry func()) {
	f.stopRetry()
	f.retryFn = retry
	if retry == nil {
		e.Actions = slices.DeleteFunc(e.Actions, func(a Action) bool { return a == ActionRetry })
		e.RetryAt = time.Time{}
	}
	f.show(ScreenError)
	f.st.Error = e
	if retry != nil && !e.RetryAt.IsZero() {
		f.errGen++
		gen := f.errGen
		f.retry = time.AfterFunc(max(e.RetryAt.Sub(f.now()), 0), func() {
			f.post(func() {
				if gen == f.errGen && f.st.Screen == ScreenError {
					f.doRetry()
				}
			})
		})
	}
	f.publish()
}

// nextRetryDelay backs off the automatic retries of an unreachable backend.
func (f *Flow) nextRetryDelay() time.Duration {
	if f.retryDelay == 0 {
		f.retryDelay = f.opts.RetryMin
	} else {
		f.retryDelay = min(f.retryDelay*2, f.opts.RetryMax)
	}
	return f.retryDelay
}

func (f *Flow) stopRetry() {
	f.errGen++
	if f.retry != nil {
		f.retry.Stop()
		f.retry = nil
	}
	f.retryFn = nil
}

// spoolHasSession reports whether the spool directory holds a session a
// later run will resume: what is recorded is safe there.
func (f *Flow) spoolHasSession() bool { return exam.HasSession(f.cfg.SpoolDir) }

func hostOf(server string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	return s
}

// doEditServer shows the join screen prefilled with what failed to join.
func (f *Flow) doEditServer() {
	if f.st.Screen != ScreenError || !slices.Contains(f.st.Error.Actions, ActionEditServer) {
		return
	}
	f.showJoin(f.target.Server, f.target.Code)
}
