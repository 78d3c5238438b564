package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
)

// Texts of the message list (tests look for them).
const (
	TextPending = "Not sent yet: waits on this computer and is sent when the connection is back"
	TextResumed = "Your proctor resumed the exam."
)

// messageList is the exam's "Messages" list: the chat both ways and the
// proctor's warnings, pauses and resumes, oldest first. A bubble is
// rebuilt only when its message changes (a reply stops being pending).
type messageList struct {
	box   *fyne.Container
	shown []client.ChatMessage
}

func newMessageList() *messageList { return &messageList{box: container.NewVBox()} }

// update shows msgs and reports whether a message was added (the caller
// scrolls to it).
func (l *messageList) update(msgs []client.ChatMessage) (added bool) {
	changed := false
	for i, m := range msgs {
		if i < len(l.shown) {
			if l.shown[i] != m {
				l.box.Objects[i] = messageBubble(m)
				l.shown[i] = m
				changed = true
			}
			continue
		}
		l.box.Add(messageBubble(m))
		l.shown = append(l.shown, m)
		added = true
	}
	if changed {
		l.box.Refresh()
	}
	return added
}

// messageBubble is one message: who, when, and the text; the proctor's on
// the left, the student's on the right; warnings and pauses stand out.
func messageBubble(m client.ChatMessage) fyne.CanvasObject {
	who := "Proctor"
	bgc := colorInfoBg
	text := m.Text
	switch m.Kind {
	case client.MessageWarning:
		who = "Warning from your proctor"
		bgc = color.NRGBA{R: 0xfd, G: 0xf0, B: 0xd5, A: 0xff}
	case client.MessagePaused:
		who = "Exam paused"
		bgc = color.NRGBA{R: 0xfd, G: 0xf0, B: 0xd5, A: 0xff}
		if text == "" {
			text = "Your proctor paused the exam."
		} else {
			text = "Your proctor paused the exam: “" + text + "”"
		}
	case client.MessageResumed:
		who = "Exam resumed"
		text = TextResumed
	}
	if !m.FromProctor {
		who, bgc = "You", color.NRGBA{R: 0xee, G: 0xf0, B: 0xf4, A: 0xff}
	}
	head := muted(who + " · " + m.At.Local().Format("15:04"))
	if m.Kind != client.MessageChat {
		head.TextStyle.Bold = true
	}
	rows := []fyne.CanvasObject{head, body(text)}
	if m.Pending {
		p := muted(TextPending)
		p.Importance = widget.WarningImportance
		rows = append(rows, p)
	}
	bg := canvas.NewRectangle(bgc)
	bg.CornerRadius = 8
	bubble := container.NewStack(bg, container.New(layout.NewCustomPaddedLayout(0, 0, 4, 4), tight(rows...)))
	if m.FromProctor {
		return container.New(layout.NewCustomPaddedLayout(0, 0, 0, 28), bubble)
	}
	return container.New(layout.NewCustomPaddedLayout(0, 0, 28, 0), bubble)
}

// noticeOverlay shows the privacy notice over the exam, scrollable, with
// a Close button.
type noticeOverlay struct {
	root  *fyne.Container
	title *widget.Label
	text  *widget.Label
	close *Button
}

// LabelCloseNotice closes the privacy notice shown during the exam.
const LabelCloseNotice = "Close the notice"

func newNoticeOverlay(onClose func()) *noticeOverlay {
	o := &noticeOverlay{title: subheading(""), text: body(""),
		close: iconButton(LabelCloseNotice, theme.CancelIcon(), true, onClose)}
	scroll := container.NewVScroll(o.text)
	scroll.SetMinSize(fyne.NewSize(0, 320))
	card := surface(container.NewBorder(o.title,
		container.New(layout.NewCustomPaddedLayout(8, 0, 0, 0), container.NewBorder(nil, nil, nil, o.close)), nil, nil, scroll))
	o.root = container.NewStack(newScrim(),
		container.New(layout.NewCustomPaddedLayout(40, 40, 0, 0), container.New(column{720}, card)))
	o.root.Hide()
	return o
}

func (o *noticeOverlay) set(notice string) {
	title, text := reflowNotice(notice)
	setText(o.title, title)
	setText(o.text, text)
}

// keptBox offers to close programs the student kept open when asked.
type keptBox struct {
	root   *fyne.Container
	banner *banner
	close  *Button
}

func newKeptBox(onClose func()) *keptBox {
	k := &keptBox{banner: newBanner(), close: iconButton("", theme.CancelIcon(), false, onClose)}
	k.root = container.NewBorder(nil, nil, nil, container.NewCenter(k.close), k.banner.root)
	k.root.Hide()
	return k
}

func (k *keptBox) update(e *client.ExamState) {
	switch {
	case len(e.Kept) > 0:
		k.banner.set(toneWarning, "You kept "+joinNames(e.Kept)+" open; your proctor is told while "+
			itOrThey(len(e.Kept))+" "+runOrRuns(len(e.Kept))+". Save your work in "+itOrThem(len(e.Kept))+", then close "+itOrThem(len(e.Kept))+" here.")
		k.close.SetText(KeptCloseLabel(e.Kept))
		setEnabled(k.close, !e.Closing)
		setVisible(k.close, true)
		setVisible(k.root, true)
	case e.KeptNote != "":
		k.banner.set(toneInfo, e.KeptNote)
		setVisible(k.close, false)
		setVisible(k.root, true)
	default:
		setVisible(k.root, false)
	}
}

// KeptCloseLabel is the exam screen's button that closes kept programs.
func KeptCloseLabel(names []string) string {
	if len(names) == 1 {
		return "Close " + names[0]
	}
	return "Close these programs"
}

func itOrThey(n int) string {
	if n == 1 {
		return "it"
	}
	return "they"
}

func runOrRuns(n int) string {
	if n == 1 {
		return "runs"
	}
	return "run"
}

// joinNames is "A", "A and B", "A, B and C".
func joinNames(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	out := names[0]
	for _, n := range names[1 : len(names)-1] {
		out += ", " + n
	}
	return out + " and " + names[len(names)-1]
}
