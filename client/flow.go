package client

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/invigil/invigil/assets"
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/client/launch"
	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/transport"
)

// Flow is the student's journey as a state machine in plain Go: join,
// system check, consent, ID photo, room scan, exam, finish, receipt, and
// the error screens in between. One goroutine (Run) owns all of its state;
// the UI calls the action methods (Join, Continue, Agree, ...), which only
// queue work for that goroutine, and renders the States it publishes.
// Long operations (joining, the check, capture, the final upload) run on
// goroutines the Flow owns and report back to Run.
type Flow struct {
	opts FlowOptions
	env  Env
	cfg  launch.Config
	log  *slog.Logger
	now  func() time.Time

	actions  chan action
	states   chan State
	stopping chan struct{} // closed when Run's loop has ended
	done     chan struct{} // closed when Run has returned

	mu      sync.Mutex
	current State
	outcome Outcome

	alertMu sync.Mutex
	alerts  map[string]lockdown.Violation // open violations by id, from the monitor
	wake    chan struct{}                 // the monitor changed alerts

	// Everything below belongs to Run's goroutine.
	ctx     context.Context
	jobs    sync.WaitGroup
	st      State
	version uint64
	quit    bool

	target      launch.Target
	joined      *exam.Joined
	retry       *time.Timer
	retryDelay  time.Duration
	retryFn     func()
	errGen      int
	checkGen    int
	report      lockdown.Report
	checkDone   bool
	netItem     CheckItem
	previewItem CheckItem
	preview     Preview
	previewGen  int
	closeNote   string
	notice      string // the privacy notice shown at consent

	exam    ExamRun
	scanGen int
	focus   focusState // focus.go
	examVars
}

// examVars is the state of one exam attempt, zeroed when an exam starts
// (a flow can start a second one: a link handed over on an error screen
// after a failed upload or a session the backend stopped).
type examVars struct {
	examState     ExamState
	lastServer    string // transport's ServerState at the last tick
	warnings      []Warning
	lastChatID    string
	askReply      chan bool
	waitSeq       uint64 // the photo or room scan's last sequence number
	waitFrom      uint64 // Acked when that upload started
	finishCancel  context.CancelFunc
	finishFrom    uint64
	endedBy       bool
	endText       string
	finishStarted bool
	keptProcs     []lockdown.ProcessFinding // kept open when asked (Ask)
	askProcs      []lockdown.ProcessFinding // what the open question is about
}

// FlowOptions configure a Flow.
type FlowOptions struct {
	Env    Env
	Config launch.Config
	// Link is the invigil:// link the client was launched with ("": none).
	Link string
	// Code is a join code from the command line.
	Code string
	Log  *slog.Logger
	Now  func() time.Time
	// Tick is how often the flow refreshes clocks and upload progress
	// (default 500 ms).
	Tick time.Duration
	// RetryMin and RetryMax bound the automatic retries when the backend
	// cannot be reached (default 5 s doubling to 60 s).
	RetryMin, RetryMax time.Duration
	// RoomScan is how long the room scan lasts (default 12 s) and
	// RoomScanShots how many stills it takes (default 4).
	RoomScan      time.Duration
	RoomScanShots int
	// Notice is the privacy-notice template (default assets.PrivacyNotice).
	Notice string
}

// Outcome is how a flow ended, for the process exit code.
type Outcome struct {
	Screen         Screen
	Error          ErrorKind // on ScreenError
	EndedByProctor bool
}

// NewFlow makes a flow; Run starts it.
func NewFlow(opts FlowOptions) *Flow {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Tick <= 0 {
		opts.Tick = 500 * time.Millisecond
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = 5 * time.Second
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(60*time.Second, opts.RetryMin)
	}
	if opts.RoomScan <= 0 {
		opts.RoomScan = 12 * time.Second
	}
	if opts.RoomScanShots <= 0 {
		opts.RoomScanShots = 4
	}
	if opts.Notice == "" {
		opts.Notice = assets.PrivacyNotice
	}
	return &Flow{
		opts: opts, env: opts.Env, cfg: opts.Config, log: opts.Log, now: opts.Now,
		actions:  make(chan action, 64),
		states:   make(chan State, 1),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
		alerts:   map[string]lockdown.Violation{},
		wake:     make(chan struct{}, 1),
	}
}

// States delivers the published states, latest first: a slow reader skips
// states it had no time for. It is closed when Run returns.
func (f *Flow) States() <-chan State { return f.states }

// Current is the latest published state.
func (f *Flow) Current() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current
}

// Done is closed when Run has returned.
func (f *Flow) Done() <-chan struct{} { return f.done }

// Outcome is how the flow ended; valid after Done.
func (f *Flow) Outcome() Outcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.outcome
}

// Run runs the flow until the student quits or ctx ends. On the way out it
// stops a running exam without finishing it (the spool keeps what is not
// uploaded, and the next start resumes it) and closes the camera preview.
func (f *Flow) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	f.ctx = ctx
	defer close(f.done)
	defer close(f.states)
	f.start()
	tick := time.NewTicker(f.opts.Tick)
	defer tick.Stop()
	for !f.quit {
		var cmds <-chan transport.Command
		var stopped <-chan struct{}
		if f.exam != nil {
			cmds = f.exam.Commands()
			if !f.finishStarted {
				// Finishing closes Stopped once the backend confirms;
				// finishDone takes it from there (no busy loop on it).
				stopped = f.exam.Stopped()
			}
		}
		select {
		case <-ctx.Done():
			f.quit = true
		case a := <-f.actions:
			a.run()
		case <-tick.C:
			f.onTick()
		case <-f.wake:
			f.onAlerts()
		case c := <-cmds:
			f.onCommand(c)
		case <-stopped:
			f.onStopped()
		}
	}
	f.mu.Lock()
	f.outcome = Outcome{Screen: f.st.Screen, EndedByProctor: f.endedBy}
	if f.st.Error != nil {
		f.outcome.Error = f.st.Error.Kind
	}
	f.mu.Unlock()
	close(f.stopping)
	f.stopRetry()
	if f.askReply != nil {
		f.askReply <- false
	}
	// Jobs see the cancelled context and end; what they opened and could
	// not hand over they release themselves (goJobOwning). What they did
	// hand over but Run never took is released here.
	cancel()
	f.jobs.Wait()
	for len(f.actions) > 0 {
		if a := <-f.actions; a.release != nil {
			a.release()
		}
	}
	f.closePreview()
	if f.exam != nil {
		f.abortExam(f.exam)
		f.exam = nil
	}
}

// abortExam stops a recording without finishing it: the spool keeps what
// is not uploaded and the next start resumes it.
func (f *Flow) abortExam(ex ExamRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ex.Abort(ctx); err != nil {
		f.log.Warn("stopping the exam", "err", err)
	}
}

// action is work queued for Run's goroutine; release, if set, frees what
// run would have taken over when Run stops before running it.
type action struct{ run, release func() }

// post queues fn for Run's goroutine. It is safe from any goroutine; after
// Run has returned it does nothing. Actions posted before Run starts wait
// for it.
func (f *Flow) post(fn func()) {
	select {
	case <-f.stopping:
		return
	default:
	}
	select {
	case f.actions <- action{run: fn}:
	case <-f.stopping:
	}
}

// postJob posts from a job goroutine: it gives up when the flow stops,
// and reports whether fn was queued.
func (f *Flow) postJob(a action) bool {
	select {
	case f.actions <- a:
		return true
	case <-f.ctx.Done():
		return false
	}
}

// goJobOwning is goJob for work that opens something (a camera, an exam):
// if the flow stops before its result is taken, release releases it.
func (f *Flow) goJobOwning(work func(ctx context.Context) (apply, release func())) {
	ctx := f.ctx
	f.jobs.Go(func() {
		apply, release := work(ctx)
		if apply != nil && !f.postJob(action{apply, release}) && release != nil {
			release()
		}
	})
}

// goJob runs work on a goroutine the flow owns; work's result, a function,
// runs on Run's goroutine.
func (f *Flow) goJob(work func(ctx context.Context) func()) {
	ctx := f.ctx
	f.jobs.Go(func() {
		if apply := work(ctx); apply != nil {
			f.postJob(action{run: apply})
		}
	})
}

// publish sends a snapshot of the working state to the UI.
func (f *Flow) publish() {
	f.version++
	s := f.st.clone()
	s.Version, s.Now = f.version, f.now()
	f.mu.Lock()
	f.current = s
	f.mu.Unlock()
	select {
	case <-f.states:
	default:
	}
	f.states <- s
}

// show switches to a screen: the working state keeps the fields common to
// every screen and drops the rest.
func (f *Flow) show(s Screen) {
	f.st = State{Screen: s, ExamName: f.st.ExamName, Server: f.st.Server, Recording: f.exam != nil && !f.finishStarted}
	switch s {
	case ScreenExam:
		f.st.Exam = &f.examState
	}
}

// clone deep-copies a state so the published one never changes.
func (s State) clone() State {
	c := s
	if s.Join != nil {
		v := *s.Join
		c.Join = &v
	}
	if s.Busy != nil {
		v := *s.Busy
		c.Busy = &v
	}
	if s.Check != nil {
		v := *s.Check
		v.Items = make([]CheckItem, len(s.Check.Items))
		for i, it := range s.Check.Items {
			it.Fixes = slices.Clone(it.Fixes)
			v.Items[i] = it
		}
		v.Closable = slices.Clone(v.Closable)
		c.Check = &v
	}
	if s.Consent != nil {
		v := *s.Consent
		c.Consent = &v
	}
	if s.Photo != nil {
		v := *s.Photo
		c.Photo = &v
	}
	if s.RoomScan != nil {
		v := *s.RoomScan
		c.RoomScan = &v
	}
	if s.Exam != nil {
		v := s.Exam.clone()
		c.Exam = &v
	}
	if s.Finishing != nil {
		v := *s.Finishing
		c.Finishing = &v
	}
	if s.Receipt != nil {
		v := *s.Receipt
		v.Receipt.ThisRun = cloneMap(v.Receipt.ThisRun)
		v.Record.ThisRun = cloneMap(v.Record.ThisRun)
		c.Receipt = &v
	}
	if s.Error != nil {
		v := *s.Error
		v.Actions = slices.Clone(v.Actions)
		c.Error = &v
	}
	return c
}

func (e ExamState) clone() ExamState {
	c := e
	c.Messages = slices.Clone(e.Messages)
	c.Alerts = slices.Clone(e.Alerts)
	c.Serious = slices.Clone(e.Serious)
	c.Minor = slices.Clone(e.Minor)
	c.Kept = slices.Clone(e.Kept)
	c.Ask = slices.Clone(e.Ask)
	if e.Warning != nil {
		w := *e.Warning
		c.Warning = &w
	}
	return c
}

func cloneMap(m map[string]int) map[string]int {
	if m == nil {
		return nil
	}
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// onTick refreshes what changes with time: clocks, connection, uploads.
func (f *Flow) onTick() {
	switch f.st.Screen {
	case ScreenExam:
		f.refreshExam()
		f.publish()
	case ScreenIDPhoto:
		if f.st.Photo.Step == PhotoUploading {
			f.photoProgress()
		}
	case ScreenRoomScan:
		if f.st.RoomScan.Step == RoomScanUploading {
			f.scanProgress()
		} else if f.st.RoomScan.Step == RoomScanScanning {
			f.publish()
		}
	case ScreenFinishing:
		f.finishProgress()
	case ScreenError:
		if !f.st.Error.RetryAt.IsZero() {
			f.publish() // the countdown
		}
	}
}

// The actions. Each is safe to call from any goroutine (the UI's); it
// queues the work for Run and returns at once.

// Join joins the exam with code on server (from the join screen). An
// address without a scheme gets https://, or http:// for this computer
// (ParseTypedServer).
func (f *Flow) Join(server, code string) { f.post(func() { f.doJoinScreen(server, code) }) }

// OpenLink handles an invigil:// link handed over by a second launch.
func (f *Flow) OpenLink(link string) { f.post(func() { f.doOpenLink(link) }) }

// Retry repeats what failed (error screens).
func (f *Flow) Retry() { f.post(f.doRetry) }

// EnterCode goes back to the join screen.
func (f *Flow) EnterCode() { f.post(func() { f.showJoin("", "") }) }

// EditServer goes back to the join screen with the server and code that
// failed, to correct them (error screens offering ActionEditServer).
func (f *Flow) EditServer() { f.post(f.doEditServer) }

// ShowNotice shows the privacy notice over the exam; HideNotice closes it.
func (f *Flow) ShowNotice() { f.post(func() { f.setNoticeOpen(true) }) }

// HideNotice closes the privacy notice shown during the exam.
func (f *Flow) HideNotice() { f.post(func() { f.setNoticeOpen(false) }) }

// CloseKept closes the programs the student chose to keep open when asked.
func (f *Flow) CloseKept() { f.post(f.doCloseKept) }

// BackToNotice goes back to the privacy notice after declining.
func (f *Flow) BackToNotice() { f.post(f.doBackToNotice) }

// Quit ends the flow. A running exam is stopped without finishing (the
// spool keeps everything for the next start); the UI asks to finish first.
func (f *Flow) Quit() { f.post(func() { f.quit = true }) }

// CheckAgain reruns the system check.
func (f *Flow) CheckAgain() { f.post(f.doCheckAgain) }

// CloseApps closes the programs the check screen lists as closable.
func (f *Flow) CloseApps() { f.post(f.doCloseApps) }

// Continue leaves the check screen for the privacy notice.
func (f *Flow) Continue() { f.post(f.doContinue) }

// Agree accepts the privacy notice: the recording starts.
func (f *Flow) Agree() { f.post(f.doAgree) }

// Decline refuses the privacy notice.
func (f *Flow) Decline() { f.post(f.doDecline) }

// TakePhoto freezes the ID photo.
func (f *Flow) TakePhoto() { f.post(f.doTakePhoto) }

// Retake goes back to the live ID photo preview.
func (f *Flow) Retake() { f.post(f.doRetake) }

// UsePhoto uploads the ID photo.
func (f *Flow) UsePhoto() { f.post(f.doUsePhoto) }

// StartRoomScan starts the room scan.
func (f *Flow) StartRoomScan() { f.post(f.doStartRoomScan) }

// Reply sends a chat reply to the proctor.
func (f *Flow) Reply(text string) { f.post(func() { f.doReply(text) }) }

// AcknowledgeWarning acknowledges the warning shown.
func (f *Flow) AcknowledgeWarning() { f.post(f.doAckWarning) }

// AnswerAsk answers the "close these programs?" question.
func (f *Flow) AnswerAsk(closeThem bool) { f.post(func() { f.doAnswerAsk(closeThem) }) }

// RequestFinish asks the student to confirm finishing.
func (f *Flow) RequestFinish() { f.post(f.doRequestFinish) }

// CancelFinish closes the confirmation.
func (f *Flow) CancelFinish() { f.post(f.doCancelFinish) }

// ConfirmFinish finishes the exam: upload, release, receipt.
func (f *Flow) ConfirmFinish() {
	f.post(func() {
		if f.examState.ConfirmFinish {
			f.startFinish(false, "")
		}
	})
}

// UploadLater stops a final upload that cannot finish; the spool keeps the
// rest for the next start, and the flow ends.
func (f *Flow) UploadLater() { f.post(f.doUploadLater) }

// CloseRequested is the window's close button: during the exam it asks to
// finish instead; otherwise the flow ends.
func (f *Flow) CloseRequested() { f.post(f.doCloseRequested) }

// FocusChanged reports the exam window gaining or losing focus.
func (f *Flow) FocusChanged(focused bool) {
	at := f.now()
	f.post(func() { f.onFocusChanged(focused, at) })
}

// ClipboardUsed reports a copy, cut or paste in the exam window.
func (f *Flow) ClipboardUsed(op lockdown.ClipboardOp) {
	at := f.now()
	f.post(func() {
		if f.exam != nil && !f.finishStarted {
			f.exam.ClipboardUsed(at, op)
		}
	})
}
