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
	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

// minUploadRate is what camera and screen at the default bitrates need
// (docs/protocol.md, network test).
const minUploadRate = 30e3

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

// startCheck shows the check screen and runs everything on it: lockdown's
// check, the network test and the camera preview.
func (f *Flow) startCheck() {
	f.show(ScreenCheck)
	f.st.Check = &CheckState{Running: true, Unpinned: f.joined.Unpinned, Resumed: f.joined.Resumed}
	f.netItem = CheckItem{ID: CheckItemNetwork, Title: "Connection to the exam server", Status: lockdown.StatusUnknown,
		Summary: "Measuring the upload speed…", Running: true}
	f.previewItem = CheckItem{}
	if f.needsCamera() && f.preview == nil {
		f.previewItem = CheckItem{ID: CheckItemCamera, Title: "Camera", Status: lockdown.StatusUnknown, Summary: "Starting the camera…", Running: true}
		f.openPreview()
	} else if f.preview != nil {
		f.previewItem = cameraOK()
		f.st.Check.Camera = f.preview
	}
	f.runCheck()
	f.runSpeedTest()
	f.updateCheck()
}

func (f *Flow) needsCamera() bool {
	if f.joined == nil || f.joined.Policy == nil {
		return false
	}
	cam, _ := exam.CaptureConfigs(f.joined.Policy, exam.Sources{Camera: f.cfg.Camera, Screen: "none"})
	return cam != nil
}

func cameraOK() CheckItem {
	return CheckItem{ID: CheckItemCamera, Title: "Camera", Status: lockdown.StatusPass,
		Summary: "Your camera works. Check that your face is well lit and fully in the picture."}
}

func (f *Flow) runCheck() {
	f.checkGen++
	gen := f.checkGen
	f.st.Check.Running = true
	p := f.joined.Policy
	f.goJob(func(ctx context.Context) func() {
		r := f.env.Check(ctx, p)
		return func() {
			if f.st.Screen != ScreenCheck || gen != f.checkGen {
				return
			}
			f.report, f.checkDone = r, true
			f.st.Check.Running = false
			f.updateCheck()
		}
	})
}

func (f *Flow) runSpeedTest() {
	j := f.joined
	f.goJob(func(ctx context.Context) func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		rate, err := f.env.SpeedTest(sctx, j)
		return func() {
			if f.joined != j {
				return
			}
			f.netItem = networkItem(rate, err)
			if f.st.Screen == ScreenCheck {
				f.updateCheck()
			}
		}
	})
}

func networkItem(rate float64, err error) CheckItem {
	it := CheckItem{ID: CheckItemNetwork, Title: "Connection to the exam server"}
	switch {
	case err != nil:
		it.Status, it.Summary = lockdown.StatusWarn, "The upload speed could not be measured."
		it.Fixes = []string{"Move closer to your Wi-Fi router or use a network cable. Recordings wait on this computer until they can be uploaded."}
	case rate < minUploadRate:
		it.Status, it.Summary = lockdown.StatusWarn, fmt.Sprintf("Uploads are slow (%s/s; the exam needs about %s/s).", exam.HumanBytes(int64(rate)), exam.HumanBytes(minUploadRate))
		it.Fixes = []string{"Close programs that use the network (video streaming, downloads, cloud sync) or move closer to your Wi-Fi router. Nothing is lost: recordings wait on this computer until they are uploaded."}
	default:
		it.Status, it.Summary = lockdown.StatusPass, fmt.Sprintf("Good: uploads run at %s/s.", exam.HumanBytes(int64(rate)))
	}
	return it
}

func (f *Flow) openPreview() {
	f.previewGen++
	gen := f.previewGen
	p := f.joined.Policy
	f.goJobOwning(func(ctx context.Context) (func(), func()) {
		octx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		pv, err := f.env.OpenPreview(octx, p)
		release := func() {
			if pv != nil {
				pv.Close()
			}
		}
		return func() {
			if f.st.Screen != ScreenCheck || gen != f.previewGen {
				release()
				return
			}
			if err != nil {
				f.log.Warn("camera preview", "err", err)
				f.showError(cameraError(err), f.startCheck)
				return
			}
			f.preview = pv
			f.previewItem = cameraOK()
			f.st.Check.Camera = pv
			f.updateCheck()
		}, release
	})
}

func (f *Flow) closePreview() {
	f.previewGen++
	if f.preview != nil {
		if err := f.preview.Close(); err != nil {
			f.log.Warn("closing the camera preview", "err", err)
		}
		f.preview = nil
	}
}

// updateCheck rebuilds the check screen's rows and buttons.
func (f *Flow) updateCheck() {
	c := f.st.Check
	c.Items = c.Items[:0]
	if f.previewItem.ID != "" {
		c.Items = append(c.Items, f.previewItem)
	}
	c.Items = append(c.Items, f.netItem)
	c.Closable = nil
	if f.checkDone {
		for _, r := range f.report.Checks {
			c.Items = append(c.Items, CheckItem{ID: r.ID, Title: r.Title, Status: r.Status, Summary: r.Summary, Fixes: r.Fixes})
		}
		c.Closable = programNames(f.report.Closable())
	} else {
		c.Items = append(c.Items, CheckItem{ID: "lockdown", Title: "This computer", Status: lockdown.StatusUnknown,
			Summary: "Checking programs, displays and the camera…", Running: true})
	}
	for _, k := range f.joined.Kept {
		c.Items = append(c.Items, keptItem(k))
	}
	if f.closeNote != "" && f.checkDone {
		c.Items = append(c.Items, CheckItem{ID: "closed", Title: "Closed programs", Status: lockdown.StatusPass, Summary: f.closeNote})
	}
	c.Blocking = ""
	switch {
	case !f.checkDone || f.netItem.Running || f.previewItem.Running:
		c.Blocking = "Wait for the check to finish."
	case f.report.Failed():
		c.Blocking = "Fix the problems marked in red, then select Check again."
	}
	c.CanContinue = c.Blocking == "" && !c.Closing
	f.publish()
}

// keptItem tells the student that another exam's unfinished session waits
// on this computer, and how it gets uploaded. It does not block Continue.
func keptItem(k exam.KeptSession) CheckItem {
	exam := "another exam"
	if k.Exam != "" {
		exam = "“" + k.Exam + "”"
	}
	if k.Exam == "" && k.Code != "" {
		exam = "the exam with code " + k.Code
	}
	it := CheckItem{ID: "kept." + k.SessionID, Title: "Another exam's recording", Status: lockdown.StatusWarn,
		Summary: "An unfinished session of " + exam + " is kept on this computer and will be uploaded when you open its link again. " +
			"It is not part of this exam."}
	if !k.SameServer {
		it.Summary = "An unfinished session of " + exam + " (on " + hostOf(k.Server) + ") is kept on this computer and will be uploaded when you open its link again. " +
			"It is not part of this exam."
	}
	it.Fixes = []string{"Nothing to do now. After this exam, open the link of " + exam + " again so that its recording is uploaded."}
	return it
}

func (f *Flow) doCheckAgain() {
	if f.st.Screen != ScreenCheck || f.st.Check.Closing {
		return
	}
	f.checkDone = false
	f.closeNote = ""
	f.runCheck()
	if !f.netItem.Running {
		f.netItem.Running, f.netItem.Summary = true, "Measuring the upload speed…"
		f.runSpeedTest()
	}
	f.updateCheck()
}

func (f *Flow) doCloseApps() {
	if f.st.Screen != ScreenCheck || !f.checkDone || f.st.Check.Closing {
		return
	}
	procs := f.report.Closable()
	if len(procs) == 0 {
		return
	}
	f.st.Check.Closing = true
	f.updateCheck()
	gen := f.checkGen
	f.goJob(func(ctx context.Context) func() {
		res := f.env.CloseApps(ctx, procs)
		return func() {
			if f.st.Screen != ScreenCheck || gen != f.checkGen {
				return
			}
			f.st.Check.Closing = false
			f.closeNote = closeSummary(res)
			f.checkDone = false
			f.runCheck()
			f.updateCheck()
		}
	})
}

// programNames are the programs of procs as a student knows them (the
// policy's name, else the process name), each once, in order.
func programNames(procs []lockdown.ProcessFinding) []string {
	var names []string
	for _, p := range procs {
		n := p.Program
		if n == "" {
			n = p.Name
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

func closeSummary(res []lockdown.CloseResult) string {
	var closed, failed []string
	for _, r := range res {
		if r.Outcome == "failed" {
			failed = append(failed, r.Name)
		} else {
			closed = append(closed, r.Name)
		}
	}
	var parts []string
	if len(closed) > 0 {
		parts = append(parts, "Closed "+strings.Join(closed, ", ")+".")
	}
	if len(failed) > 0 {
		parts = append(parts, "Could not close "+strings.Join(failed, ", ")+": close it yourself.")
	}
	return strings.Join(parts, " ")
}

func (f *Flow) doContinue() {
	if f.st.Screen != ScreenCheck || !f.st.Check.CanContinue {
		return
	}
	// The preview closes: recording opens the camera again after consent.
	f.closePreview()
	f.showConsent()
}

// doBackToNotice returns from the "you declined" screen to the notice; from
// anywhere else it would skip a step (the check, say), so it does nothing.
func (f *Flow) doBackToNotice() {
	if f.st.Screen == ScreenError && f.st.Error.Kind == ErrorDeclined {
		f.showConsent()
	}
}

func (f *Flow) showConsent() {
	if f.joined == nil || f.exam != nil {
		return
	}
	// The notice is headed with the exam's name as the backend gives it
	// (the one the student chose), not the policy's.
	p := *f.joined.Policy
	if f.st.ExamName != "" {
		p.Name = f.st.ExamName
	}
	notice, err := policy.RenderNotice(f.opts.Notice, &p)
	if err != nil {
		f.showError(badPolicyError(fmt.Errorf("%w: %w", exam.ErrBadPolicy, err)), nil)
		return
	}
	f.notice = notice
	f.show(ScreenConsent)
	f.st.Consent = &ConsentState{Notice: notice}
	f.publish()
}

func (f *Flow) doDecline() {
	if f.st.Screen != ScreenConsent {
		return
	}
	ask := "If you have questions about your data, ask your teacher before you agree."
	if c := f.joined.Policy.Privacy.Contact; c != "" {
		ask = "If you have questions about your data, ask " + c + " (the contact the notice gives) before you agree."
	}
	f.showError(&ErrorState{Kind: ErrorDeclined, Title: "The exam needs your agreement",
		Message: "You did not agree to the recording, so the exam cannot start. Nothing was recorded. " + ask,
		Actions: []Action{ActionBackNotice, ActionQuit}}, nil)
}

func (f *Flow) doAgree() {
	if f.st.Screen != ScreenConsent || f.exam != nil {
		return
	}
	f.startRecording(f.joined)
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
