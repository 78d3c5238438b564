package ui

import (
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/invigil/invigil/client"
)

// TestIndicatorFollowsState: the indicator shows while an allowed program
// has the focus during the exam, with the recording state, the time, the
// connection and the proctor messages that came since the student left
// the exam window; it hides when the exam window has the focus again or
// the exam screen goes; a tap brings the exam window forward.
func TestIndicatorFollowsState(t *testing.T) {
	a, w := newTestApp(t)
	in := a.Indicator()
	if in == nil {
		t.Fatal("no indicator")
	}
	now := time.Now()
	exam := &client.ExamState{Started: now.Add(-83 * time.Second), Connected: true,
		Messages: []client.ChatMessage{{FromProctor: true, Text: "Hello"}}}
	s := client.State{Screen: client.ScreenExam, Now: now, Recording: true, Exam: exam}
	a.Render(s)
	if in.Shown() {
		t.Fatal("indicator shown while the exam window has the focus")
	}

	away := *exam
	away.Away = client.FocusAway{Program: "Calculator", Kind: "allowed_app"}
	away.Messages = append(away.Messages, client.ChatMessage{FromProctor: true, Text: "Still there?"}, client.ChatMessage{Text: "my reply"})
	s.Exam = &away
	a.Render(s)
	if !in.Shown() {
		t.Fatal("indicator hidden while an allowed program has the focus")
	}
	if got, want := in.body.status.Text, "Recording · 0:01:23 · online"; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	if got, want := in.body.detail.Text, "1 new message from your proctor: click to read"; got != want {
		t.Errorf("detail %q, want %q", got, want)
	}
	away.Connected, away.Paused = false, true
	away.Messages = append(away.Messages, client.ChatMessage{FromProctor: true, Text: "Paused"})
	a.Render(s)
	if got, want := in.body.status.Text, "Paused by your proctor · 0:01:23 · offline, recording kept"; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	if got, want := in.body.detail.Text, "2 new messages from your proctor: click to read"; got != want {
		t.Errorf("detail %q, want %q", got, want)
	}

	away.Warning = &client.Warning{ID: "w1", Text: "Eyes on your screen"}
	a.Render(s)
	if got, want := in.body.detail.Text, "A warning from your proctor: click to read"; got != want {
		t.Errorf("detail %q, want %q", got, want)
	}

	// A tap brings the exam window forward.
	rec := &focusRecorder{Window: w}
	in.main = rec
	test.Tap(in.body)
	if rec.asked != 1 {
		t.Errorf("a tap asked for the focus %d times, want 1", rec.asked)
	}

	s.Exam = exam // back in the exam window
	a.Render(s)
	if in.Shown() {
		t.Fatal("indicator still shown after the exam window got the focus back")
	}
	s.Exam, s.Screen, s.Finishing = &away, client.ScreenFinishing, &client.FinishingState{}
	a.Render(s)
	if in.Shown() {
		t.Fatal("indicator shown after the exam")
	}
}

// focusRecorder counts the focus requests of a window.
type focusRecorder struct {
	fyne.Window
	asked int
}

func (w *focusRecorder) RequestFocus() { w.asked++ }
