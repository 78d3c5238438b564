package ui

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
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
	r := client.Receipt{SessionID: "s_1", Exam: "Physics midterm", Messages: 1, ThisRun: map[string]int{"stills": 1},
		ClientDigest: strings.Repeat("0123abcd", 8), ServerDigest: strings.Repeat("0123abcd", 8), Match: true,
		FinishedAt: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	return client.State{Screen: client.ScreenReceipt, Version: 1, Receipt: &client.ReceiptState{Receipt: r,
		EndedByProctor: endedByProctor, Record: client.NewReceiptRecord(r, r.FinishedAt.Add(-time.Hour), endedByProctor),
		Saved: client.ReceiptFiles{Text: "/home/student/Documents/Invigil receipt - Physics midterm - 2026-12-05 10-00.txt",
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
