package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

// examStarted: the recording runs. The ID photo and room scan come first
// when a camera records.
func (f *Flow) examStarted(ex ExamRun) {
	f.exam = ex
	f.examVars = examVars{examState: ExamState{Connected: ex.Status().Connected}}
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
		jpg, err := cam.Snapshot(sctx, StillWidth)
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
	seq, err := f.exam.SendStill(f.st.Photo.Photo, "id_photo")
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
			jpg, err := ex.Camera().Snapshot(sctx, StillWidth)
			cancel()
			if err == nil {
				var seq uint64
				if seq, err = ex.SendStill(jpg, "room_scan"); err == nil {
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
			e.Paused = true
		case transport.StateActive:
			if f.lastServer == transport.StatePaused {
				e.Paused, e.PauseReason = false, ""
			}
		}
		f.lastServer = st.ServerState
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
		f.applyWarnings()
	case transport.CommandPause:
		e.Paused, e.PauseReason = true, c.Text
	case transport.CommandResume:
		e.Paused, e.PauseReason = false, ""
	case transport.CommandEnd:
		f.startFinish(true, c.Text)
		return
	case transport.CommandKeyframe: // a live viewer wants a picture now (keyframe.go)
		if k, ok := f.exam.(interface{ ForceKeyframe(string) bool }); ok {
			k.ForceKeyframe(c.Text)
		}
		return
	case transport.CommandSnapshot:
		ex := f.exam
		f.goJob(func(ctx context.Context) func() {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := ex.Snapshot(sctx, c.ID); err != nil {
				ex.Event("snapshot.failed", map[string]any{"command_id": c.ID, "error": err.Error()})
			}
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
	fields := map[string]any{"text": truncate(text, 2000)}
	if f.lastChatID != "" {
		fields["command_id"] = f.lastChatID
	}
	if err := f.exam.Event("chat.reply", fields); err != nil {
		f.examState.Problem = problemText(err)
	} else {
		f.examState.Messages = append(f.examState.Messages, ChatMessage{Text: text, At: f.now()})
	}
	f.publish()
}

// onViolation runs on a monitor goroutine (with the monitor's lock held):
// it only records and wakes Run.
func (f *Flow) onViolation(v lockdown.Violation) {
	f.alertMu.Lock()
	if v.Phase == lockdown.PhaseOpen {
		f.alerts[v.ID] = v.Summary
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
	alerts := make([]string, 0, len(f.alerts))
	for _, s := range f.alerts {
		alerts = append(alerts, s)
	}
	f.alertMu.Unlock()
	sort.Strings(alerts)
	if slices.Equal(alerts, f.examState.Alerts) {
		return
	}
	f.examState.Alerts = alerts
	if f.st.Screen == ScreenExam {
		f.publish()
	}
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

func (f *Flow) finishDone(ex ExamRun, r *Receipt, err error) {
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
	f.log.Info("finished", "session", r.SessionID, "messages", r.Messages, "this_run", r.describe(), "digest_match", r.Match)
	f.show(ScreenReceipt)
	f.st.Receipt = &ReceiptState{Receipt: *r, EndedByProctor: f.endedBy, EndText: f.endText}
	if err != nil {
		f.st.Receipt.WipeProblem = oneLine(err)
	}
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

// describe is a receipt's upload summary ("12 camera, 3 screen, 40
// events"), for logs.
func (r Receipt) describe() string {
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
