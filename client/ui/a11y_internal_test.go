package ui

import (
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/client/flowtest"
	"github.com/invigil/invigil/lockdown"
)

// recActions records the actions the screens ask for.
type recActions struct {
	noActions
	mu   sync.Mutex
	done []string
}

func (r *recActions) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = append(r.done, s)
}

func (r *recActions) calls() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.done, ",")
}

func (r *recActions) Agree()                             { r.add("agree") }
func (r *recActions) Decline()                           { r.add("decline") }
func (r *recActions) Continue()                          { r.add("continue") }
func (r *recActions) CheckAgain()                        { r.add("check-again") }
func (r *recActions) CloseApps()                         { r.add("close-apps") }
func (r *recActions) CancelFinish()                      { r.add("cancel-finish") }
func (r *recActions) ConfirmFinish()                     { r.add("confirm-finish") }
func (r *recActions) RequestFinish()                     { r.add("request-finish") }
func (r *recActions) AcknowledgeWarning()                { r.add("ack") }
func (r *recActions) Retake()                            { r.add("retake") }
func (r *recActions) TakePhoto()                         { r.add("take") }
func (r *recActions) UsePhoto()                          { r.add("use-photo") }
func (r *recActions) FocusChanged(bool)                  {}
func (r *recActions) ClipboardUsed(lockdown.ClipboardOp) {}

// newSizedApp is a test app on a screen of the given size in pixels.
func newSizedApp(t *testing.T, act Actions, screen fyne.Size) (*App, fyne.Window) {
	t.Helper()
	old := screenSize
	screenSize = func() fyne.Size { return screen }
	t.Cleanup(func() { screenSize = old })
	test.NewTempApp(t).Settings().SetTheme(Theme{})
	w := test.NewTempWindow(t, nil)
	return New(w, act), w
}

// manyChecks is a finished check with one failure among many passes, the
// camera preview above them.
func manyChecks(cam exam.Camera, running bool) *client.CheckState {
	items := []client.CheckItem{{ID: client.CheckItemCamera, Title: "Camera", Status: lockdown.StatusPass, Summary: "The camera works."}}
	for _, n := range []string{"Network", "Displays", "Virtual machine", "Remote access", "Virtual camera", "Screen recording", "Clipboard"} {
		items = append(items, client.CheckItem{ID: n, Title: n, Status: lockdown.StatusPass, Summary: n + " is fine.", Running: running})
	}
	c := &client.CheckState{Camera: cam, Running: running, Items: items}
	if running {
		c.Blocking = "Wait for the check to finish."
		return c
	}
	c.Items = append(c.Items, client.CheckItem{ID: "processes", Title: "Prohibited programs", Status: lockdown.StatusFail,
		Summary: "AnyDesk is running.", Fixes: []string{"Close AnyDesk", "Then select Check again"}})
	c.Closable = []string{"AnyDesk"}
	c.Blocking = "Fix the problems marked in red, then select Check again."
	return c
}

// inView reports whether o lies wholly in the page's scrolled view.
func inView(p *page, o fyne.CanvasObject) bool {
	d := fyne.CurrentApp().Driver()
	top := d.AbsolutePositionForObject(o).Y - d.AbsolutePositionForObject(p.scroll.Content).Y
	return top >= p.scroll.Offset.Y && top+o.Size().Height <= p.scroll.Offset.Y+p.scroll.Size().Height
}

// TestCheckRevealsFirstFailure: on a 1280×720 screen, a check that fails
// shows its first failing row without scrolling, also after "Check again"
// from a page scrolled elsewhere, and says next to Continue why it is off.
func TestCheckRevealsFirstFailure(t *testing.T) {
	a, w := newSizedApp(t, noActions{}, fyne.NewSize(1280, 720))
	cam := &flowtest.Camera{}
	a.Render(client.State{Version: 1, Screen: client.ScreenCheck, Check: manyChecks(cam, true)})
	w.Content().Refresh()
	s := a.cur.(*checkScreen)
	if got := s.page.note.Text; !s.page.note.Visible() || !strings.Contains(got, "once the check has finished") {
		t.Errorf("while checking, the note says %q (visible %v)", got, s.page.note.Visible())
	}
	a.Render(client.State{Version: 2, Screen: client.ScreenCheck, Check: manyChecks(cam, false)})
	w.Content().Refresh()
	first := s.rows.Objects[0]
	if !inView(s.page, first) {
		t.Errorf("the failing row is out of view (offset %v, view %v)", s.page.scroll.Offset, s.page.scroll.Size())
	}
	if got := s.page.note.Text; !s.page.note.Visible() || !strings.Contains(got, "problem marked in red") {
		t.Errorf("the note says %q (visible %v)", got, s.page.note.Visible())
	}

	// The student scrolls to the end, selects Check again, and the
	// problem is still there.
	s.page.scroll.ScrollToBottom()
	a.Render(client.State{Version: 3, Screen: client.ScreenCheck, Check: manyChecks(cam, true)})
	a.Render(client.State{Version: 4, Screen: client.ScreenCheck, Check: manyChecks(cam, false)})
	w.Content().Refresh()
	first = s.rows.Objects[0]
	if !inView(s.page, first) {
		t.Errorf("after Check again the failing row is out of view (offset %v, view %v)", s.page.scroll.Offset, s.page.scroll.Size())
	}

	// Everything passes: no note, and Continue is on.
	ok := manyChecks(cam, false)
	ok.Items, ok.Closable, ok.Blocking, ok.CanContinue = ok.Items[:len(ok.Items)-1], nil, "", true
	a.Render(client.State{Version: 5, Screen: client.ScreenCheck, Check: ok})
	if s.page.note.Visible() || a.Button("Continue") == nil {
		t.Errorf("all passed: note %q visible %v, Continue %v", s.page.note.Text, s.page.note.Visible(), a.Button("Continue"))
	}
}

// screenStates is one state of every screen, with its longest content.
func screenStates() []client.State {
	now := time.Now()
	cam := &flowtest.Camera{}
	fail := manyChecks(cam, false)
	return []client.State{
		{Screen: client.ScreenJoin, Join: &client.JoinState{ServerEditable: true, Problem: "No exam has the code PHYS9. Check the code and try again."}},
		{Screen: client.ScreenBusy, Busy: &client.BusyState{Title: "Connecting to your exam", Detail: "Contacting proctor.example.edu…"}},
		{Screen: client.ScreenCheck, ExamName: "Physics midterm", Check: fail},
		{Screen: client.ScreenConsent, ExamName: "Physics midterm", Consent: &client.ConsentState{Notice: strings.Repeat("What is recorded, who sees it and for how long. ", 80)}},
		{Screen: client.ScreenIDPhoto, Recording: true, Photo: &client.PhotoState{Step: client.PhotoLive, Camera: cam}},
		{Screen: client.ScreenIDPhoto, Recording: true, Photo: &client.PhotoState{Step: client.PhotoTaken, Photo: nil}},
		{Screen: client.ScreenRoomScan, Recording: true, RoomScan: &client.RoomScanState{Step: client.RoomScanIntro, Camera: cam, Length: 12 * time.Second}},
		{Screen: client.ScreenFinishing, Finishing: &client.FinishingState{Total: 100, Uploaded: 40, Progress: 0.4}},
		{Screen: client.ScreenReceipt, Receipt: &client.ReceiptState{Receipt: exam.Receipt{SessionID: "s_0123456789abcdef", Messages: 1234,
			ClientDigest: strings.Repeat("ab", 32), ServerDigest: strings.Repeat("ab", 32), Match: true}}},
		{Screen: client.ScreenError, Error: &client.ErrorState{Kind: client.ErrorUnreachable, Title: "Cannot reach the exam server",
			Detail: strings.Repeat("The server did not answer. ", 10), Actions: []client.Action{client.ActionRetry, client.ActionQuit}}},
		{Screen: client.ScreenExam, Recording: true, Now: now, Exam: &client.ExamState{Started: now.Add(-time.Hour), Connected: true,
			Messages: []client.ChatMessage{{FromProctor: true, Text: "Hello", At: now}}}},
	}
}

// TestScreensFitSmallScreens: at the window size for 1280×720 and
// 1366×768 screens, at scale 1 and at 1.5 (FYNE_SCALE, the system's text
// size), every screen fits: its minimum size (which Fyne would grow the
// window to) is within the window, and every button lies inside it.
func TestScreensFitSmallScreens(t *testing.T) {
	for _, tt := range []struct {
		screen fyne.Size
		scale  float32
	}{
		{fyne.NewSize(1280, 720), 1}, {fyne.NewSize(1366, 768), 1},
		{fyne.NewSize(1280, 720), 1.5}, {fyne.NewSize(1366, 768), 1.5},
	} {
		fitted := fitSize(tt.screen, tt.scale)
		if fitted.Width*tt.scale > tt.screen.Width || fitted.Height*tt.scale > tt.screen.Height {
			t.Fatalf("%v at %v: window %v is larger than the screen", tt.screen, tt.scale, fitted)
		}
		for _, st := range screenStates() {
			win := fitted
			if st.Screen == client.ScreenExam { // full screen
				win = fyne.NewSize(tt.screen.Width/tt.scale, tt.screen.Height/tt.scale)
			}
			a, w := newSizedApp(t, noActions{}, tt.screen)
			st.Version = 1
			a.Render(st)
			// The test canvas has a scale of 1: the window takes the size
			// the screen has at tt.scale.
			w.Resize(win)
			w.Content().Refresh()
			if m := w.Content().MinSize(); m.Width > win.Width || m.Height > win.Height {
				t.Errorf("%v at %v: the %s screen needs %v, the window has %v", tt.screen, tt.scale, st.Screen, m, win)
			}
			d := fyne.CurrentApp().Driver()
			for _, c := range a.Controls() {
				b, ok := c.(*Button)
				if !ok || !b.Visible() || !visibleInTree(w.Content(), b) {
					continue
				}
				p := d.AbsolutePositionForObject(b)
				if p.X < 0 || p.Y < 0 || p.X+b.Size().Width > win.Width || p.Y+b.Size().Height > win.Height {
					t.Errorf("%v at %v: %s screen: button %q at %v size %v is outside the window %v", tt.screen, tt.scale, st.Screen, b.Text, p, b.Size(), win)
				}
			}
		}
	}
}

// visibleInTree reports whether o is shown (it and every container above
// it visible).
func visibleInTree(root, o fyne.CanvasObject) bool {
	return walkVisible(root, func(x fyne.CanvasObject) bool { return x == o })
}

// TestKeyboardJourney drives screens with key events only: Tab moves the
// focus (and the ring shows it), Enter and Space press the focused button,
// a new screen drops the old screen's focus, Escape cancels the finish
// dialog but not a proctor's warning, and the scrolling keys scroll.
func TestKeyboardJourney(t *testing.T) {
	act := &recActions{}
	a, w := newSizedApp(t, act, fyne.NewSize(1280, 720))
	c := w.Canvas()
	st := screenStates()

	// Consent: Tab reaches "I do not agree", then "I agree"; Enter agrees.
	a.Render(client.State{Version: 1, Screen: client.ScreenConsent, Consent: st[3].Consent})
	w.Content().Refresh()
	focusTo(t, c, "I agree")
	b := c.Focused().(*Button)
	if !b.HasFocus() || !test.WidgetRenderer(b).(*buttonRenderer).ring.Visible() {
		t.Error("the focused button shows no focus ring")
	}
	// The scrolling keys scroll the notice (buttons cannot scroll it).
	sc := a.cur.(*consentScreen).page.scroll
	c.OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyPageDown})
	if sc.Offset.Y <= 0 {
		t.Error("Page Down did not scroll the notice")
	}
	b.TypedKey(&fyne.KeyEvent{Name: fyne.KeyEnd}) // a key the button passes on
	if want := sc.Content.Size().Height - sc.Size().Height; sc.Offset.Y != want {
		t.Errorf("End from the focused button: offset %v, want %v", sc.Offset.Y, want)
	}
	b.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if got := act.calls(); got != "agree" {
		t.Fatalf("Enter on I agree: actions %q", got)
	}

	// Enter keeps the focus on the button pressed; once the render hides
	// it, nothing has the focus (the next Enter must not press it unseen).
	a.Render(client.State{Version: 2, Screen: client.ScreenIDPhoto, Photo: &client.PhotoState{Step: client.PhotoLive}})
	focusTo(t, c, "Take photo")
	c.Focused().TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if f, ok := c.Focused().(*Button); !ok || f.Text != "Take photo" {
		t.Fatalf("after Enter the focus is on %v", c.Focused())
	}
	a.Render(client.State{Version: 3, Screen: client.ScreenIDPhoto, Photo: &client.PhotoState{Step: client.PhotoTaken}})
	if f := c.Focused(); f != nil {
		t.Fatalf("the hidden Take photo button keeps the focus: %v", f)
	}
	// Space presses the focused button too.
	focusTo(t, c, "Use this photo")
	c.Focused().TypedKey(&fyne.KeyEvent{Name: fyne.KeySpace})
	if got := act.calls(); got != "agree,take,use-photo" {
		t.Fatalf("Space on Use this photo: actions %q", got)
	}
	// Escape on a photo taken backs out to the live picture (Retake).
	c.OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyEscape})
	if got := act.calls(); got != "agree,take,use-photo,retake" {
		t.Fatalf("Escape on a photo taken: actions %q", got)
	}
	// A new screen starts with nothing focused: an Enter must not press a
	// button of the screen that went (here the flow moves on while
	// "Retake" has the focus).
	focusTo(t, c, "Retake")
	a.Render(client.State{Version: 13, Screen: client.ScreenRoomScan, RoomScan: &client.RoomScanState{Step: client.RoomScanIntro}})
	if f := c.Focused(); f != nil {
		t.Fatalf("the room scan screen starts with %T focused", f)
	}

	// The exam's finish dialog: the focus moves into it, on its first
	// button, the safe one; Escape keeps working too.
	now := time.Now()
	exam := &client.ExamState{Started: now, Connected: true, ConfirmFinish: true}
	a.Render(client.State{Version: 14, Screen: client.ScreenExam, Now: now, Exam: exam})
	f, ok := c.Focused().(*Button)
	if !ok || f.Text != "Keep working" {
		t.Fatalf("finish dialog: focus on %v, want Keep working", c.Focused())
	}
	f.TypedKey(&fyne.KeyEvent{Name: fyne.KeyEscape})
	if got := act.calls(); !strings.HasSuffix(got, ",cancel-finish") {
		t.Fatalf("Escape in the finish dialog: actions %q", got)
	}
	// A proctor's warning is not dismissed by Escape.
	warned := *exam
	warned.ConfirmFinish, warned.Warning = false, &client.Warning{ID: "w1", Text: "Eyes on your screen", At: now}
	a.Render(client.State{Version: 15, Screen: client.ScreenExam, Now: now, Exam: &warned})
	c.OnTypedKey()(&fyne.KeyEvent{Name: fyne.KeyEscape})
	if got := act.calls(); strings.HasSuffix(got, "ack") {
		t.Fatalf("Escape acknowledged the warning: actions %q", got)
	}
	f, ok = c.Focused().(*Button)
	if !ok || f.Text != LabelAcknowledge {
		t.Fatalf("warning: focus on %v, want %q", c.Focused(), LabelAcknowledge)
	}
	f.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if got := act.calls(); !strings.HasSuffix(got, ",ack") {
		t.Fatalf("Enter on the warning: actions %q", got)
	}

	// A warning that appears while the student types keeps the focus in
	// the entry: a space must not acknowledge it unread.
	a.Render(client.State{Version: 16, Screen: client.ScreenExam, Now: now, Exam: &client.ExamState{Started: now, Connected: true}})
	reply := a.Input(PlaceholderReply)
	c.Focus(reply)
	a.Render(client.State{Version: 17, Screen: client.ScreenExam, Now: now, Exam: &client.ExamState{Started: now, Connected: true,
		Warning: &client.Warning{ID: "w2", Text: "Eyes on your screen", At: now}}})
	if c.Focused() != reply {
		t.Fatalf("a warning took the focus from the entry the student types in: %T", c.Focused())
	}
	reply.TypedRune(' ')
	reply.TypedKey(&fyne.KeyEvent{Name: fyne.KeySpace})
	if got := act.calls(); strings.Count(got, "ack") != 1 {
		t.Fatalf("typing acknowledged the warning: actions %q", got)
	}

	// The join screen puts the focus into its first empty entry.
	a.Render(client.State{Version: 18, Screen: client.ScreenJoin, Join: &client.JoinState{ServerEditable: true}})
	if e := a.Entry(PlaceholderServer); c.Focused() != e {
		t.Errorf("join: focus on %T, want the server entry", c.Focused())
	}
}

// focusTo presses Tab until the button with this text has the focus.
func focusTo(t *testing.T, c fyne.Canvas, text string) {
	t.Helper()
	var seen []string
	for range 20 {
		c.FocusNext()
		if b, ok := c.Focused().(*Button); ok {
			if b.Text == text {
				return
			}
			seen = append(seen, b.Text)
		} else {
			seen = append(seen, "non-button")
		}
	}
	t.Fatalf("Tab never reached %q; it went to %v", text, seen)
}
