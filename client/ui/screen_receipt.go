package ui

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/exam"
)

// Labels of the receipt screen.
const (
	LabelClose       = "Close Invigil"
	LabelCopyReceipt = "Copy receipt"
	LabelCopied      = "Copied"
)

// receiptScreen is the end: what was uploaded and the digest both sides
// computed, where the receipt was saved, and a copy of it.
type receiptScreen struct {
	page   *page
	ended  *banner
	rows   *fyne.Container
	match  *banner
	saved  *banner
	copied *banner
	wiped  *banner
	copyB  *Button
	closeB *Button
	text   string
	isSave bool // the receipt was saved as a file
	seen   uint64
}

func newReceiptScreen(act Actions, win fyne.Window) *receiptScreen {
	s := &receiptScreen{ended: newBanner(), rows: container.New(layout.NewFormLayout()), match: newBanner(), wiped: newBanner(),
		saved: newBanner(), copied: newBanner()}
	s.copyB = iconButton(LabelCopyReceipt, theme.ContentCopyIcon(), false, func() {
		fyne.CurrentApp().Clipboard().SetContent(s.text)
		s.showCopied()
	})
	s.closeB = button(LabelClose, true, act.Quit)
	card := surface(container.NewVBox(subheading("Your receipt"), s.rows))
	s.page = newPage(6, "You're done", "Everything you recorded has been uploaded. Keep the receipt below in case anyone asks.",
		container.NewVBox(s.ended.root, s.match.root, card, s.saved.root, s.copied.root, s.wiped.root), s.copyB, s.closeB)
	s.page.setIcon(theme.NewSuccessThemedResource(theme.ConfirmIcon()))
	return s
}

// showCopied is the copy button's feedback: the button says so, and a line
// says how long the copy lasts. On X11 the clipboard's content belongs to
// the program that copied it and goes when Invigil closes; the saved file
// is what lasts.
func (s *receiptScreen) showCopied() {
	s.copyB.SetText(LabelCopied)
	s.copyB.SetIcon(theme.ConfirmIcon())
	msg := "The receipt is on the clipboard. Paste it (into an email or a document) before you close Invigil: " +
		"on some computers the copy disappears when Invigil closes."
	if s.isSave {
		msg += " The saved file keeps it in any case."
	}
	s.copied.set(toneSuccess, msg)
}

func (s *receiptScreen) object() fyne.CanvasObject { return s.page.root }

func (s *receiptScreen) controls() []fyne.CanvasObject { return []fyne.CanvasObject{s.copyB, s.closeB} }

func (s *receiptScreen) update(st client.State) {
	r := st.Receipt
	if r == nil || st.Version == s.seen {
		return
	}
	s.seen = st.Version
	rc := r.Receipt
	icon := theme.NewSuccessThemedResource(theme.ConfirmIcon())
	if r.EndedByProctor {
		// Not a success tick: the attempt was stopped. Say what comes next.
		icon = theme.NewWarningThemedResource(theme.InfoIcon())
		setText(s.page.title, "Your proctor ended the exam")
		msg := "Your proctor ended this exam attempt."
		if r.EndText != "" {
			msg += " They said: “" + r.EndText + "”"
		}
		s.ended.set(toneWarning, msg+" Everything recorded until then has been uploaded.\n\n"+
			"What now: you cannot continue this attempt. Your teacher or the exam's organisers will tell you what happens next; "+
			"if you do not know why it was ended, contact your teacher today and keep this receipt.")
	}
	if rc.Match {
		s.match.set(toneSuccess, "The exam server has exactly the data this computer sent: both computed the same receipt code.")
	} else {
		s.match.set(toneError, "The exam server's receipt code differs from this computer's. Send the saved receipt (or a copy) to your teacher.")
		icon = theme.NewWarningThemedResource(theme.WarningIcon())
	}
	s.page.setIcon(icon)
	rows := [][2]string{
		{"Exam", rc.Exam},
		{"Session", rc.SessionID},
	}
	if !r.Record.StartedAt.IsZero() {
		rows = append(rows, [2]string{"Started", r.Record.StartedAt.Local().Format("Mon 2 Jan 2006, 15:04")})
	}
	rows = append(rows,
		[2]string{"Finished", rc.FinishedAt.Local().Format("Mon 2 Jan 2006, 15:04")},
		[2]string{"Uploaded", uploadedText(rc)},
		[2]string{"Receipt code", groupDigest(rc.ClientDigest)},
	)
	if !rc.Match && rc.ServerDigest != "" {
		rows = append(rows, [2]string{"Server's code", groupDigest(rc.ServerDigest)})
	}
	if rc.Lost > 0 {
		rows = append(rows, [2]string{"Lost", fmt.Sprintf("%s damaged on this computer's disk and could not be uploaded. Your proctor has been told.",
			plural(rc.Lost, "recorded message was", "recorded messages were"))})
	}
	s.rows.Objects = nil
	for _, kv := range rows {
		k := widget.NewLabel(kv[0])
		k.TextStyle.Bold = true
		v := body(kv[1])
		// Only the codes are monospaced, for reading them out in groups.
		// Not the session id: Fyne's GL painter clips the monospace "_"
		// (fyne-io/fyne#6006), and "s_3f…" would read as "s 3f…".
		if kv[0] == "Receipt code" || kv[0] == "Server's code" {
			v.TextStyle.Monospace = true
		}
		s.rows.Add(k)
		s.rows.Add(v)
	}
	s.text = r.Record.Text()
	s.rows.Refresh()
	s.isSave = r.Saved.Text != ""
	switch {
	case s.isSave:
		s.saved.set(toneInfo, "A copy of this receipt is saved on this computer:\n"+r.Saved.Text+
			"\n(and the same for programs: "+filepath.Base(r.Saved.JSON)+")")
	case r.SaveProblem != "":
		s.saved.set(toneWarning, "The receipt could not be saved as a file ("+r.SaveProblem+
			"). Select “Copy receipt” and paste it into an email or a document before you close Invigil.")
	default:
		s.saved.set(toneInfo, "")
	}
	if r.WipeProblem != "" {
		s.wiped.set(toneWarning, "Invigil could not remove everything from this computer: "+r.WipeProblem)
	} else {
		s.wiped.set(toneInfo, "Invigil has removed the recordings from this computer and undone every change it made to it.")
	}
}

// uploadedText says what was uploaded, in words.
func uploadedText(r exam.Receipt) string {
	names := map[string][2]string{"camera": {"camera frame", "camera frames"}, "screen": {"screen frame", "screen frames"},
		"stills": {"photo", "photos"}, "events": {"event", "events"}, "heartbeat": {"heartbeat", "heartbeats"}}
	keys := make([]string, 0, len(r.ThisRun))
	for k := range r.ThisRun {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return r.ThisRun[keys[i]] > r.ThisRun[keys[j]] })
	var parts []string
	for _, k := range keys {
		n, ok := names[k]
		if !ok {
			n = [2]string{k, k}
		}
		parts = append(parts, plural(r.ThisRun[k], n[0], n[1]))
	}
	s := plural(int(r.Messages), "message", "messages") + " in all"
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	if r.Bytes > 0 {
		s += ", " + exam.HumanBytes(r.Bytes)
	}
	return s
}

// groupDigest shows a hex digest in groups of eight on one line; the
// label wraps it between groups only when the window is too narrow.
func groupDigest(d string) string {
	var b strings.Builder
	for i := 0; i < len(d); i += 8 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(d[i:min(i+8, len(d))])
	}
	return b.String()
}
