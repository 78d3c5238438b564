package ui

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/exam"
)

// labels are the texts of every visible label under o.
func labels(o fyne.CanvasObject) []string {
	var out []string
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if !o.Visible() {
			return
		}
		switch w := o.(type) {
		case *widget.Label:
			out = append(out, w.Text)
			return
		case *fyne.Container:
			for _, c := range w.Objects {
				walk(c)
			}
			return
		case fyne.Widget:
			r := test.WidgetRenderer(w)
			for _, c := range r.Objects() {
				walk(c)
			}
		}
	}
	walk(o)
	return out
}

func hasLabel(o fyne.CanvasObject, sub string) bool {
	for _, l := range labels(o) {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func receiptState(endedByProctor bool) client.State {
	r := exam.Receipt{SessionID: "s_1", Exam: "Physics midterm", Messages: 1, ThisRun: map[string]int{"stills": 1},
		ClientDigest: strings.Repeat("0123abcd", 8), ServerDigest: strings.Repeat("0123abcd", 8), Match: true,
		FinishedAt: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	return client.State{Screen: client.ScreenReceipt, Version: 1, Receipt: &client.ReceiptState{Receipt: r,
		EndedByProctor: endedByProctor, Record: exam.NewReceiptRecord(r, r.FinishedAt.Add(-time.Hour), endedByProctor),
		Saved: exam.ReceiptFiles{Text: "/home/student/Documents/Invigil receipt - Physics midterm - 2026-12-05 10-00.txt",
			JSON: "/home/student/Documents/Invigil receipt - Physics midterm - 2026-12-05 10-00.json"}}}
}

// TestReceiptScreen: the screen says where the receipt is saved, the code
// is on one line in monospace, "Copy receipt" copies the full receipt and
// says so; counts of one are singular.
func TestReceiptScreen(t *testing.T) {
	_, w := newTestApp(t)
	s := newReceiptScreen(noActions{}, w)
	w.SetContent(s.object())
	s.update(receiptState(false))
	if !hasLabel(s.object(), "/home/student/Documents/Invigil receipt - Physics midterm - 2026-12-05 10-00.txt") {
		t.Errorf("the screen does not say where the receipt is saved: %q", labels(s.object()))
	}
	var code *widget.Label
	for i, o := range s.rows.Objects {
		if l, ok := o.(*widget.Label); ok && l.Text == "Receipt code" {
			code = s.rows.Objects[i+1].(*widget.Label)
		}
	}
	if code == nil || strings.Contains(code.Text, "\n") || !code.TextStyle.Monospace {
		t.Fatalf("receipt code label %+v: want one monospace line", code)
	}
	w.Resize(fyne.NewSize(1100, 780))
	one := widget.NewLabel("0")
	one.TextStyle.Monospace = true
	if got, line := code.MinSize(), one.MinSize(); got.Height > line.Height+1 {
		t.Errorf("the code label is %v, one line is %v high: it wraps in a 1100-wide window", got, line.Height)
	}
	if !hasLabel(s.object(), "1 message in all (1 photo)") {
		t.Errorf("uploaded text: %q", labels(s.object()))
	}
	if s.copied.root.Visible() {
		t.Fatal("copy feedback before copying")
	}
	test.Tap(s.copyB)
	if s.copyB.Text != LabelCopied || !s.copied.root.Visible() || !strings.Contains(s.copied.label.Text, "saved file keeps it") {
		t.Fatalf("after copying: button %q, feedback %v %q", s.copyB.Text, s.copied.root.Visible(), s.copied.label.Text)
	}
	clip := fyne.CurrentApp().Clipboard().Content()
	for _, want := range []string{"Physics midterm", "s_1", strings.Repeat("0123abcd", 8), "Started:"} {
		if !strings.Contains(clip, want) {
			t.Errorf("clipboard lacks %q:\n%s", want, clip)
		}
	}
}

// TestReceiptEndedByProctor: no green success tick, and the next step.
func TestReceiptEndedByProctor(t *testing.T) {
	_, w := newTestApp(t)
	s := newReceiptScreen(noActions{}, w)
	w.SetContent(s.object())
	s.update(receiptState(true))
	if r := s.page.icon.Resource; r != nil && strings.Contains(r.Name(), "success") {
		t.Errorf("ended by the proctor shows a success icon %q", r.Name())
	}
	if !hasLabel(s.object(), "What now") {
		t.Errorf("no next step: %q", labels(s.object()))
	}
}

func examState(e client.ExamState) client.State {
	if e.Started.IsZero() {
		e.Started = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	}
	return client.State{Screen: client.ScreenExam, Version: 1, Recording: true, Now: e.Started.Add(20 * time.Minute), Exam: &e}
}

func controlsHave(s *examScreen, o fyne.CanvasObject) bool {
	for _, c := range s.controls() {
		if c == o {
			return true
		}
	}
	return false
}

// TestExamPauseKeepsMessages: during a pause the clock stands still and
// says so, the messages can be written, and the finish cannot be asked.
func TestExamPauseKeepsMessages(t *testing.T) {
	_, w := newTestApp(t)
	s := newExamScreen(noActions{}, w)
	w.SetContent(s.object())
	start := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	st := examState(client.ExamState{Started: start, Connected: true, Paused: true, PauseReason: "Show your desk",
		PausedAt: start.Add(10 * time.Minute), Notice: "Privacy notice — Physics\n\nText.",
		Messages: []client.ChatMessage{
			{FromProctor: true, Kind: client.MessageWarning, Text: "Eyes on your own screen", At: start.Add(5 * time.Minute)},
			{FromProctor: true, Kind: client.MessagePaused, Text: "Show your desk", At: start.Add(10 * time.Minute)},
			{Text: "Where is the proctor?", At: start.Add(11 * time.Minute), Pending: true},
		}})
	s.update(st)
	if got := s.clock.text.Text; got != "Paused at 0:10:00" {
		t.Errorf("clock %q, want it standing at the pause", got)
	}
	if !controlsHave(s, s.reply) || !controlsHave(s, s.send) || s.send.Disabled() {
		t.Error("the messages cannot be used during a pause")
	}
	if controlsHave(s, s.finish) || !s.finish.Disabled() {
		t.Error("Finish is usable during a pause")
	}
	for _, want := range []string{"Eyes on your own screen", "Your proctor paused the exam: “Show your desk”", TextPending} {
		if !hasLabel(s.chatView, want) {
			t.Errorf("messages lack %q: %q", want, labels(s.chatView))
		}
	}
	// Resumed, the reply stored: the list says so and the pending line goes.
	e := *st.Exam
	e.Paused, e.PausedAt, e.PausedFor = false, time.Time{}, 2*time.Minute
	e.Messages = append([]client.ChatMessage(nil), e.Messages...)
	e.Messages[2].Pending = false
	e.Messages = append(e.Messages, client.ChatMessage{FromProctor: true, Kind: client.MessageResumed, At: start.Add(12 * time.Minute)})
	st.Exam, st.Version = &e, 2
	s.update(st)
	if hasLabel(s.chatView, TextPending) || !hasLabel(s.chatView, TextResumed) {
		t.Errorf("after resume: %q", labels(s.chatView))
	}
	if got := s.clock.text.Text; got != "Elapsed 0:18:00" {
		t.Errorf("clock %q, want 0:18:00 (20 min less a 2 min pause)", got)
	}
}

// TestExamAlertsAndKept: serious and minor points apart, one program
// asked about in the singular, a kept program with its own close button,
// and the privacy notice reopened.
func TestExamAlertsAndKept(t *testing.T) {
	_, w := newTestApp(t)
	s := newExamScreen(noActions{}, w)
	w.SetContent(s.object())
	s.update(examState(client.ExamState{Connected: true, Serious: []string{"AnyDesk is running"},
		Minor: []string{"Discord is running"}, Alerts: []string{"AnyDesk is running", "Discord is running"}, Ask: []string{"TeamViewer"},
		Notice: "Privacy notice — Physics midterm\n\nWhat is recorded."}))
	if !s.serious.root.Visible() || !strings.Contains(s.serious.label.Text, "AnyDesk") || strings.Contains(s.serious.label.Text, "Discord") {
		t.Errorf("serious banner %q", s.serious.label.Text)
	}
	if !s.minor.root.Visible() || !strings.Contains(s.minor.label.Text, "Discord") {
		t.Errorf("minor banner %q", s.minor.label.Text)
	}
	if s.askClose.Text != "Close TeamViewer" || s.askKeep.Text != "Keep it open" || strings.Contains(s.ask.text.Text, "them") {
		t.Errorf("ask for one program: %q / %q: %q", s.askClose.Text, s.askKeep.Text, s.ask.text.Text)
	}
	s.update(examState(client.ExamState{Connected: true, Kept: []string{"TeamViewer"},
		Notice: "Privacy notice — Physics midterm\n\nWhat is recorded.", NoticeOpen: true}))
	if !s.kept.root.Visible() || s.kept.close.Text != "Close TeamViewer" {
		t.Errorf("kept box visible %v, button %q", s.kept.root.Visible(), s.kept.close.Text)
	}
	if !s.notice.root.Visible() || s.notice.title.Text != "Privacy notice — Physics midterm" || !controlsHave(s, s.notice.close) {
		t.Errorf("notice overlay visible %v title %q", s.notice.root.Visible(), s.notice.title.Text)
	}
}

// TestRoomScanSingular: "1 picture taken", not "1 pictures".
func TestRoomScanSingular(t *testing.T) {
	_, w := newTestApp(t)
	s := newRoomScanScreen(noActions{})
	w.SetContent(s.object())
	now := time.Now()
	s.update(client.State{Screen: client.ScreenRoomScan, Version: 1, Now: now, Recording: true, RoomScan: &client.RoomScanState{
		Step: client.RoomScanScanning, Shots: 1, Ends: now.Add(time.Second), Length: 12 * time.Second}})
	if !hasLabel(s.object(), "1 second left (1 picture taken)") {
		t.Errorf("room scan says %q", labels(s.object()))
	}
}

// With an exam browser the exam screen sends the student to the exam page
// instead of "as your teacher told you".
func TestExamScreenWithExamBrowser(t *testing.T) {
	_, w := newTestApp(t)
	s := newExamScreen(noActions{}, w)
	w.SetContent(s.object())
	s.update(examState(client.ExamState{ExamBrowser: true}))
	if !hasLabel(s.object(), "the exam browser: work there") || hasLabel(s.object(), "as your teacher told you") {
		t.Errorf("with an exam browser: %q", labels(s.object()))
	}
	s.update(examState(client.ExamState{}))
	if hasLabel(s.object(), "exam browser") || !hasLabel(s.object(), "as your teacher told you") {
		t.Errorf("without: %q", labels(s.object()))
	}
}
