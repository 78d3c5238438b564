package client

import (
	"context"
	"errors"
	"fmt"
	"github.com/invigil/invigil/client/internal/msg"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

// examStarted: the recording runs. The ID photo and room scan come first
// when a camera records.
func (f *Flow) examStarted(ex ExamRun) {
	f.exam = ex
	f.examVars = examVars{examState: ExamState{Connected: ex.Status().Connected, Notice: f.notice}}
	if p := f.joined.Policy; p != nil {
		f.examState.ClipboardBlocked = p.Clipboard == policy.ClipboardBlock
	}
	if ex.Camera() != nil {
		f.showPhoto()
		return
	}
	f.showExam()
}

func (f *Flow) showPhoto() {
	f.show(ScreenIDPhoto)
	f.st.Photo = &PhotoState{Step: PhotoLive, Camera: f.exam.Camera()}
	f.publish()
}

func (f *Flow) doTakePhoto() {
	if f.st.Screen != ScreenIDPhoto || f.st.Photo.Step != PhotoLive {
		return
	}
	cam := f.exam.Camera()
	f.goJob(func(ctx context.Context) func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		jpg, err := cam.Snapshot(sctx, exam.StillWidth)
		return func() {
			if f.st.Screen != ScreenIDPhoto || f.st.Photo.Step != PhotoLive {
				return
			}
			if err != nil {
				f.st.Photo.Problem = "The photo could not be taken (" + oneLine(err) + "). Try again."
			} else {
				f.st.Photo.Step, f.st.Photo.Photo, f.st.Photo.Problem = PhotoTaken, jpg, ""
			}
			f.publish()
		}
	})
}

func (f *Flow) doRetake() {
	if f.st.Screen != ScreenIDPhoto || f.st.Photo.Step != PhotoTaken {
		return
	}
	f.st.Photo.Step, f.st.Photo.Photo = PhotoLive, nil
	f.publish()
}

func (f *Flow) doUsePhoto() {
	if f.st.Screen != ScreenIDPhoto || f.st.Photo.Step != PhotoTaken {
		return
	}
	from := f.exam.Acked()
	seq, err := f.exam.SendStill(f.st.Photo.Photo, "camera", "id_photo")
	if err != nil {
		f.st.Photo.Problem = "The photo could not be saved: " + oneLine(err)
		f.publish()
		return
	}
	f.waitFrom, f.waitSeq = from, seq
	f.st.Photo.Step, f.st.Photo.Progress, f.st.Photo.Problem = PhotoUploading, 0, ""
	f.photoProgress()
}

// uploadProgress is how far the backend has stored up to waitSeq.
func (f *Flow) uploadProgress() (float64, bool) {
	acked := f.exam.Acked()
	if acked >= f.waitSeq {
		return 1, true
	}
	if f.waitSeq <= f.waitFrom || acked < f.waitFrom {
		return 0, false
	}
	return float64(acked-f.waitFrom) / float64(f.waitSeq-f.waitFrom), false
}

func (f *Flow) photoProgress() {
	p, done := f.uploadProgress()
	if done {
		f.showRoomScan()
		return
	}
	f.st.Photo.Progress = p
	f.publish()
}

func (f *Flow) showRoomScan() {
	f.show(ScreenRoomScan)
	f.st.RoomScan = &RoomScanState{Step: RoomScanIntro, Camera: f.exam.Camera()}
	f.publish()
}

func (f *Flow) doStartRoomScan() {
	if f.st.Screen != ScreenRoomScan || f.st.RoomScan.Step != RoomScanIntro {
		return
	}
	f.scanGen++
	gen := f.scanGen
	rs := f.st.RoomScan
	rs.Step, rs.Shots, rs.Problem = RoomScanScanning, 0, ""
	rs.Ends, rs.Length = f.now().Add(f.opts.RoomScan), f.opts.RoomScan
	f.waitFrom = f.exam.Acked()
	f.exam.Event("room_scan.started", map[string]any{"seconds": f.opts.RoomScan.Seconds()})
	f.publish()
	ex, shots, every := f.exam, f.opts.RoomScanShots, f.opts.RoomScan/time.Duration(f.opts.RoomScanShots)
	f.goJob(func(ctx context.Context) func() {
		var last uint64
		for i := range shots {
			t := time.NewTimer(every)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			jpg, err := ex.Camera().Snapshot(sctx, exam.StillWidth)
			cancel()
			if err == nil {
				var seq uint64
				if seq, err = ex.SendStill(jpg, "camera", "room_scan"); err == nil {
					last = seq
				}
			}
			n := i + 1
			f.postJob(action{run: func() {
				if f.st.Screen == ScreenRoomScan && gen == f.scanGen {
					f.st.RoomScan.Shots = n
					if err != nil {
						f.st.RoomScan.Problem = "A picture could not be taken: " + oneLine(err)
					}
					f.publish()
				}
			}})
		}
		return func() {
			if f.st.Screen != ScreenRoomScan || gen != f.scanGen {
				return
			}
			f.exam.Event("room_scan.finished", map[string]any{"stills": shots})
			f.waitSeq = max(last, f.waitFrom)
			f.st.RoomScan.Step = RoomScanUploading
			f.scanProgress()
		}
	})
}

func (f *Flow) scanProgress() {
	p, done := f.uploadProgress()
	if done {
		f.showExam()
		return
	}
	f.st.RoomScan.Progress = p
	f.publish()
}

func (f *Flow) showExam() {
	if f.examState.Started.IsZero() {
		f.examState.Started = f.now()
		f.openExamBrowser()
	}
	f.show(ScreenExam)
	f.applyWarnings()
	f.refreshExam()
	f.publish()
}

// refreshExam copies the connection and spool status into the exam state.
func (f *Flow) refreshExam() {
	st := f.exam.Status()
	e := &f.examState
	e.Connected, e.Reconnects = st.Connected, st.Reconnects
	e.BacklogBytes, e.BacklogMessages = st.Spool.UnackedBytes, st.Spool.Unacked
	// A welcome says whether the backend has the session paused (a
	// restarted client learns of a pause it missed this way).
	if st.Connected && st.ServerState != f.lastServer {
		switch st.ServerState {
		case transport.StatePaused:
			f.setPaused(true, e.PauseReason, f.now())
		case transport.StateActive:
			if f.lastServer == transport.StatePaused {
				f.setPaused(false, "", f.now())
			}
		}
		f.lastServer = st.ServerState
	}
	acked := f.exam.Acked()
	for i := range e.Messages {
		if m := &e.Messages[i]; m.Pending && acked >= m.upTo {
			m.Pending = false
		}
	}
	if err := f.exam.Problem(); err != nil {
		e.Problem = problemText(err)
	}
}

func problemText(err error) string {
	const kept = " Everything recorded so far is kept and will upload. Tell your proctor."
	switch {
	case errors.Is(err, transport.ErrDiskFull):
		return "This computer's disk is full, so the recording has stopped." + kept
	case errors.Is(err, transport.ErrSpoolFull):
		return "Too much is waiting to be uploaded, so the recording has stopped." + kept
	case errors.Is(err, transport.ErrSpoolDamaged):
		return "Part of your recording stored on this computer was damaged and could not be uploaded. " +
			"Your proctor has been told automatically, and the recording goes on. (" + oneLine(err) + ")"
	}
	return "The recording has stopped (" + oneLine(err) + ")." + kept
}

// onCommand acts on a proctor's command.
func (f *Flow) onCommand(c transport.Command) {
	if f.finishStarted {
		return
	}
	f.log.Info("proctor command", "command", c.Command, "id", c.ID)
	e := &f.examState
	switch c.Command {
	case transport.CommandChat:
		e.Messages = append(e.Messages, ChatMessage{FromProctor: true, Text: c.Text, At: f.cmdTime(c)})
		f.lastChatID = c.ID
	case transport.CommandWarn:
		f.warnings = append(f.warnings, Warning{ID: c.ID, Text: c.Text, At: f.cmdTime(c)})
		// The list keeps it once "I understand" has closed the overlay.
		e.Messages = append(e.Messages, ChatMessage{FromProctor: true, Kind: MessageWarning, Text: c.Text, At: f.cmdTime(c)})
		f.applyWarnings()
	case transport.CommandPause:
		f.setPaused(true, c.Text, f.cmdTime(c))
	case transport.CommandResume:
		f.setPaused(false, "", f.cmdTime(c))
	case transport.CommandEnd:
		f.startFinish(true, c.Text)
		return
	case transport.CommandKeyframe: // a live viewer wants a picture now (exam.Exam.ForceKeyframe)
		if k, ok := f.exam.(interface{ ForceKeyframe(string) bool }); ok {
			k.ForceKeyframe(c.Text)
		}
		return
	case transport.CommandSnapshot:
		ex := f.exam
		f.goJob(func(ctx context.Context) func() {
			ex.Snapshot(ctx, c.ID) // a failure is the proctor's to see
			return nil
		})
		return
	default:
		return
	}
	if f.st.Screen == ScreenExam {
		f.publish()
	}
}

// setPaused pauses or resumes the exam: the elapsed time stands still
// during a pause, and the message list says when it paused and resumed.
func (f *Flow) setPaused(paused bool, reason string, at time.Time) {
	e := &f.examState
	if e.Paused == paused {
		if paused && reason != "" && reason != e.PauseReason {
			e.PauseReason = reason
			e.Messages = append(e.Messages, ChatMessage{FromProctor: true, Kind: MessagePaused, Text: reason, At: at})
		}
		return
	}
	now := f.now()
	e.Paused, e.PauseReason = paused, reason
	if paused {
		e.PausedAt = now
		e.Messages = append(e.Messages, ChatMessage{FromProctor: true, Kind: MessagePaused, Text: reason, At: at})
		return
	}
	if !e.PausedAt.IsZero() {
		e.PausedFor += now.Sub(e.PausedAt)
	}
	e.PausedAt = time.Time{}
	e.Messages = append(e.Messages, ChatMessage{FromProctor: true, Kind: MessageResumed, At: at})
}

func (f *Flow) cmdTime(c transport.Command) time.Time {
	if c.At.IsZero() {
		return f.now()
	}
	return c.At
}

func (f *Flow) applyWarnings() {
	if len(f.warnings) > 0 {
		w := f.warnings[0]
		f.examState.Warning = &w
	} else {
		f.examState.Warning = nil
	}
}

func (f *Flow) doAckWarning() {
	if f.exam == nil || len(f.warnings) == 0 || f.st.Screen != ScreenExam {
		return
	}
	w := f.warnings[0]
	f.warnings = f.warnings[1:]
	f.exam.Event("warning.acknowledged", map[string]any{"command_id": w.ID})
	f.applyWarnings()
	f.publish()
}

func (f *Flow) doReply(text string) {
	text = strings.TrimSpace(text)
	if f.exam == nil || f.st.Screen != ScreenExam || text == "" {
		return
	}
	fields := map[string]any{"text": msg.Truncate(text, 2000)}
	if f.lastChatID != "" {
		fields["command_id"] = f.lastChatID
	}
	if err := f.exam.Event("chat.reply", fields); err != nil {
		f.examState.Problem = problemText(err)
	} else {
		// Shown as waiting until the backend has stored it: every message
		// sent so far, this one included, is below NextSeq.
		m := ChatMessage{Text: text, At: f.now(), upTo: f.exam.Status().Spool.NextSeq - 1}
		m.Pending = f.exam.Acked() < m.upTo
		f.examState.Messages = append(f.examState.Messages, m)
	}
	f.publish()
}

// onViolation runs on a monitor goroutine (with the monitor's lock held):
// it only records and wakes Run.
func (f *Flow) onViolation(v lockdown.Violation) {
	f.alertMu.Lock()
	if v.Phase == lockdown.PhaseOpen {
		f.alerts[v.ID] = v
	} else {
		delete(f.alerts, v.ID)
	}
	f.alertMu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Flow) onAlerts() {
	f.alertMu.Lock()
	open := make([]lockdown.Violation, 0, len(f.alerts))
	for _, v := range f.alerts {
		open = append(open, v)
	}
	f.alertMu.Unlock()
	serious, minor := alertTexts(open)
	kept := f.stillKept(open)
	e := &f.examState
	if slices.Equal(serious, e.Serious) && slices.Equal(minor, e.Minor) && slices.Equal(kept, e.Kept) {
		return
	}
	e.Serious, e.Minor, e.Kept = serious, minor, kept
	e.Alerts = append(slices.Clone(serious), minor...)
	if f.st.Screen == ScreenExam {
		f.publish()
	}
}

// alertTexts are the open violations in the student's words, split into
// serious ones (critical: the policy blocks them) and minor ones, sorted,
// each once: a program is named, not its processes ("AnyDesk is
// running", not one line per pid).
func alertTexts(open []lockdown.Violation) (serious, minor []string) {
	type key struct {
		text    string
		serious bool
	}
	seen := map[key]bool{}
	for _, v := range open {
		k := key{alertText(v), v.Severity == lockdown.SeverityCritical}
		if seen[k] {
			continue
		}
		seen[k] = true
		if k.serious {
			serious = append(serious, k.text)
		} else {
			minor = append(minor, k.text)
		}
	}
	// A program both serious and minor (two rules) is told once, as serious.
	minor = slices.DeleteFunc(minor, func(t string) bool { return slices.Contains(serious, t) })
	sort.Strings(serious)
	sort.Strings(minor)
	return serious, minor
}

// alertText is one violation in the student's words.
func alertText(v lockdown.Violation) string {
	program := v.Evidence["program"]
	if program == "" {
		program = v.Evidence["name"]
	}
	switch v.Code {
	case lockdown.CodeProcessProhibited:
		if program != "" {
			return program + " is running"
		}
	case lockdown.CodeProcessRemotePort:
		if program != "" {
			return program + " accepts remote connections"
		}
		return "A program accepts remote connections"
	}
	return v.Summary
}

// stillKept are the programs kept open when asked whose processes still
// run (an open violation names their pid).
func (f *Flow) stillKept(open []lockdown.Violation) []string {
	if len(f.keptProcs) == 0 {
		return nil
	}
	running := map[string]bool{}
	for _, v := range open {
		if pid := v.Evidence["pid"]; pid != "" {
			running[pid] = true
		}
	}
	f.keptProcs = slices.DeleteFunc(f.keptProcs, func(p lockdown.ProcessFinding) bool {
		return !running[strconv.Itoa(int(p.PID))]
	})
	return programNames(f.keptProcs)
}

// doCloseKept closes the programs kept open: the student changed their
// mind, or saved their work first.
func (f *Flow) doCloseKept() {
	e := &f.examState
	if f.exam == nil || f.st.Screen != ScreenExam || len(f.keptProcs) == 0 || e.Closing {
		return
	}
	procs := slices.Clone(f.keptProcs)
	e.Closing, e.KeptNote = true, ""
	f.publish()
	ex := f.exam
	f.goJob(func(ctx context.Context) func() {
		res := f.env.CloseApps(ctx, procs)
		return func() {
			if f.exam != ex {
				return
			}
			closed := map[int32]bool{}
			for _, r := range res {
				if r.Outcome != "failed" {
					closed[r.PID] = true
				}
			}
			f.keptProcs = slices.DeleteFunc(f.keptProcs, func(p lockdown.ProcessFinding) bool { return closed[p.PID] })
			e.Closing, e.Kept, e.KeptNote = false, programNames(f.keptProcs), closeSummary(res)
			ex.Event("programs.closed", map[string]any{"programs": programNames(procs), "closed": len(closed),
				"failed": len(res) - len(closed), "how": "kept_then_closed"})
			if f.st.Screen == ScreenExam {
				f.publish()
			}
		}
	})
}

// setNoticeOpen shows or hides the privacy notice over the exam.
func (f *Flow) setNoticeOpen(open bool) {
	if f.st.Screen != ScreenExam || f.examState.NoticeOpen == open {
		return
	}
	f.examState.NoticeOpen = open
	f.publish()
}

// ask is the monitor's AskFunc: it shows the question and waits.
func (f *Flow) ask(ctx context.Context, procs []lockdown.ProcessFinding) bool {
	reply := make(chan bool, 1)
	names := programNames(procs)
	f.post(func() {
		if f.exam == nil || f.finishStarted || f.askReply != nil {
			reply <- false
			return
		}
		f.askReply = reply
		f.askProcs = procs
		f.examState.Ask = names
		if f.st.Screen == ScreenExam {
			f.publish()
		}
	})
	select {
	case ok := <-reply:
		return ok
	case <-ctx.Done():
	case <-f.stopping:
	}
	return false
}

func (f *Flow) doAnswerAsk(closeThem bool) {
	if f.askReply == nil {
		return
	}
	f.askReply <- closeThem
	f.askReply = nil
	if !closeThem {
		// Kept open: the exam screen offers to close them later.
		for _, p := range f.askProcs {
			if !slices.ContainsFunc(f.keptProcs, func(k lockdown.ProcessFinding) bool { return k.PID == p.PID }) {
				f.keptProcs = append(f.keptProcs, p)
			}
		}
		f.examState.Kept = programNames(f.keptProcs)
	}
	f.askProcs = nil
	f.examState.Ask = nil
	if f.st.Screen == ScreenExam {
		f.publish()
	}
}

func (f *Flow) doRequestFinish() {
	if f.st.Screen != ScreenExam {
		return
	}
	f.examState.ConfirmFinish = true
	f.publish()
}

func (f *Flow) doCancelFinish() {
	if f.st.Screen != ScreenExam {
		return
	}
	f.examState.ConfirmFinish = false
	f.publish()
}

func (f *Flow) doCloseRequested() {
	switch {
	case f.exam != nil && f.st.Screen == ScreenExam:
		f.doRequestFinish()
	case f.exam != nil && !f.finishStarted:
		// ID photo, room scan: the recording runs; leaving stops it
		// without finishing, and the next start resumes.
		f.quit = true
	case f.finishStarted && f.st.Screen == ScreenFinishing:
		// Closing during the upload keeps the rest for later.
		f.doUploadLater()
	default:
		f.quit = true
	}
}

// startFinish stops the recording and uploads what is left.
func (f *Flow) startFinish(byProctor bool, text string) {
	if f.exam == nil || f.finishStarted {
		return
	}
	if f.st.Screen != ScreenExam && !byProctor {
		return
	}
	if f.askReply != nil {
		f.askReply <- false
		f.askReply = nil
	}
	f.finishStarted = true
	f.endedBy, f.endText = byProctor, text
	f.finishFrom = f.exam.Acked()
	f.show(ScreenFinishing)
	f.st.Finishing = &FinishingState{EndedByProctor: byProctor, EndText: text}
	f.finishProgress()
	reason := "finished by student"
	if byProctor {
		reason = "ended by proctor"
	}
	ex := f.exam
	fctx, cancel := context.WithCancel(f.ctx)
	f.finishCancel = cancel
	f.goJob(func(context.Context) func() {
		r, err := ex.Finish(fctx, reason)
		cancel()
		return func() { f.finishDone(ex, r, err) }
	})
}

func (f *Flow) finishProgress() {
	st := f.exam.Status()
	fs := f.st.Finishing
	fs.Connected = st.Connected
	total := st.Spool.NextSeq - 1
	if st.Spool.NextSeq == 0 {
		total = 0
	}
	fs.Total, fs.Uploaded = total, min(st.Spool.Acked, total)
	switch {
	case total <= f.finishFrom:
		fs.Progress = 1
	case fs.Uploaded <= f.finishFrom:
		fs.Progress = 0
	default:
		fs.Progress = float64(fs.Uploaded-f.finishFrom) / float64(total-f.finishFrom)
	}
	f.publish()
}

func (f *Flow) finishDone(ex ExamRun, r *exam.Receipt, err error) {
	if ex != f.exam {
		return
	}
	f.finishCancel = nil
	if r == nil {
		f.log.Warn("finish", "err", err)
		f.abortExam(ex)
		f.exam = nil
		spoolSafe := !errors.Is(err, transport.ErrSessionFinished)
		e := &ErrorState{Kind: ErrorUpload, Title: "Not everything was uploaded", Detail: oneLine(err), SpoolSafe: spoolSafe,
			Message: "Your recordings are safe on this computer. Open Invigil again with the same link while the exam is open: " +
				"it uploads the rest by itself.",
			Actions: []Action{ActionQuit}}
		if !spoolSafe {
			e.Message = "The exam server closed this session before the upload finished. Contact your teacher."
		}
		f.showError(e, nil)
		return
	}
	f.exam = nil
	f.log.Info("finished", "session", r.SessionID, "messages", r.Messages, "this_run", describeRun(*r), "digest_match", r.Match)
	f.show(ScreenReceipt)
	f.st.Receipt = &ReceiptState{Receipt: *r, EndedByProctor: f.endedBy, EndText: f.endText,
		Record: exam.NewReceiptRecord(*r, f.examState.Started, f.endedBy)}
	if err != nil {
		f.st.Receipt.WipeProblem = oneLine(err)
	}
	f.saveReceipt()
	f.publish()
}

func (f *Flow) doUploadLater() {
	if f.st.Screen != ScreenFinishing || f.finishCancel == nil {
		return
	}
	f.finishCancel()
}

// onStopped: the backend stopped the session for good (ended elsewhere,
// config key refused, token revoked).
func (f *Flow) onStopped() {
	err := f.exam.Err()
	f.log.Warn("the backend stopped the session", "err", err)
	f.abortExam(f.exam)
	f.exam = nil
	if errors.Is(err, transport.ErrConfigKeyMismatch) {
		f.showError(badPolicyError(err), nil)
		return
	}
	f.showError(&ErrorState{Kind: ErrorStopped, Title: "The exam server closed this session",
		Message: "The recording has stopped. Everything recorded until now was kept. Contact your teacher or proctor.",
		Detail:  oneLine(err), Actions: []Action{ActionQuit}}, nil)
}

// describeRun is a receipt's upload summary ("12 camera, 3 screen, 40
// events"), for logs.
func describeRun(r exam.Receipt) string {
	keys := make([]string, 0, len(r.ThisRun))
	for k := range r.ThisRun {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", r.ThisRun[k], k))
	}
	return strings.Join(parts, ", ")
}

// saveReceipt keeps the receipt as files when the Env can (ReceiptSaver).
func (f *Flow) saveReceipt() {
	rs, ok := f.env.(ReceiptSaver)
	if !ok {
		return
	}
	files, err := rs.SaveReceipt(f.st.Receipt.Record)
	if err != nil {
		f.log.Warn("saving the receipt", "err", err)
		f.st.Receipt.SaveProblem = oneLine(err)
		return
	}
	f.log.Info("receipt saved") // not where: the path names the user
	f.st.Receipt.Saved = files
}
