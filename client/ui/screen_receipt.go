package ui

import (
	"fmt"
	"sort"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
)

// Labels of the receipt screen.
const (
	LabelClose       = "Close Invigil"
	LabelCopyReceipt = "Copy receipt"
)

// receiptScreen is the end: what was uploaded and the digest both sides
// computed.
type receiptScreen struct {
	page   *page
	ended  *banner
	rows   *fyne.Container
	match  *banner
	wiped  *banner
	copyB  *Button
	closeB *Button
	text   string
	seen   uint64
}

func newReceiptScreen(act Actions, win fyne.Window) *receiptScreen {
	s := &receiptScreen{ended: newBanner(), rows: container.New(layout.NewFormLayout()), match: newBanner(), wiped: newBanner()}
	s.copyB = iconButton(LabelCopyReceipt, theme.ContentCopyIcon(), false, func() {
		win.Clipboard().SetContent(s.text)
	})
	s.closeB = button(LabelClose, true, act.Quit)
	card := surface(container.NewVBox(subheading("Your receipt"), s.rows))
	s.page = newPage(6, "You're done", "Everything you recorded has been uploaded. Keep the receipt below in case anyone asks.",
		container.NewVBox(s.ended.root, s.match.root, card, s.wiped.root), s.copyB, s.closeB)
	s.page.setIcon(theme.NewSuccessThemedResource(theme.ConfirmIcon()))
	return s
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
	if r.EndedByProctor {
		setText(s.page.title, "Your proctor ended the exam")
		msg := "Your proctor ended this exam attempt."
		if r.EndText != "" {
			msg += " They said: “" + r.EndText + "”"
		}
		s.ended.set(toneWarning, msg+" Everything recorded until then has been uploaded.")
	}
	if rc.Match {
		s.match.set(toneSuccess, "The exam server has exactly the data this computer sent: both computed the same receipt code.")
	} else {
		s.match.set(toneError, "The exam server's receipt code differs from this computer's. Copy the receipt and send it to your teacher.")
		s.page.setIcon(theme.NewWarningThemedResource(theme.WarningIcon()))
	}
	rows := [][2]string{
		{"Exam", rc.Exam},
		{"Session", rc.SessionID},
		{"Finished", rc.FinishedAt.Local().Format("Mon 2 Jan 2006, 15:04")},
		{"Uploaded", uploadedText(rc)},
		{"Receipt code", groupDigest(rc.ClientDigest)},
	}
	if !rc.Match && rc.ServerDigest != "" {
		rows = append(rows, [2]string{"Server's code", groupDigest(rc.ServerDigest)})
	}
	if rc.Lost > 0 {
		rows = append(rows, [2]string{"Lost", fmt.Sprintf("%d recorded messages were damaged on this computer's disk and could not be uploaded. Your proctor has been told.", rc.Lost)})
	}
	s.rows.Objects = nil
	var lines []string
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
		lines = append(lines, kv[0]+": "+kv[1])
	}
	lines = append(lines, "Digest: "+rc.ClientDigest, fmt.Sprintf("Digest matches the server's: %v", rc.Match))
	s.text = strings.Join(lines, "\n")
	s.rows.Refresh()
	if r.WipeProblem != "" {
		s.wiped.set(toneWarning, "Invigil could not remove everything from this computer: "+r.WipeProblem)
	} else {
		s.wiped.set(toneInfo, "Invigil has removed the recordings from this computer and undone every change it made to it.")
	}
}

// uploadedText says what was uploaded, in words.
func uploadedText(r client.Receipt) string {
	names := map[string]string{"camera": "camera frames", "screen": "screen frames", "stills": "photos",
		"events": "events", "heartbeat": "heartbeats"}
	keys := make([]string, 0, len(r.ThisRun))
	for k := range r.ThisRun {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return r.ThisRun[keys[i]] > r.ThisRun[keys[j]] })
	var parts []string
	for _, k := range keys {
		n := names[k]
		if n == "" {
			n = k
		}
		parts = append(parts, fmt.Sprintf("%d %s", r.ThisRun[k], n))
	}
	s := fmt.Sprintf("%d messages in all", r.Messages)
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	if r.Bytes > 0 {
		s += ", " + client.HumanBytes(r.Bytes)
	}
	return s
}

// groupDigest shows a hex digest in groups of eight, on two lines.
func groupDigest(d string) string {
	var b strings.Builder
	for i := 0; i < len(d); i += 8 {
		if i > 0 {
			if i == 32 {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(d[i:min(i+8, len(d))])
	}
	return b.String()
}
