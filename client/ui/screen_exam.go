package ui

import (
	"fmt"
	"image/color"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
)

// Labels and placeholders of the exam screen (tests and the test driver
// use them).
const (
	PlaceholderReply = "Write to your proctor…"
	PlaceholderNotes = "Scratch paper: notes here are not sent to anyone and are deleted when you finish."
	LabelFinish      = "Finish exam"
	LabelConfirm     = "Yes, finish now"
	LabelAcknowledge = "I understand"
)

// examScreen is the exam itself, full screen: status in the bar, the
// proctor's messages, a scratch pad and the Finish button; warnings, the
// pause, the finish confirmation and enforcement questions cover it.
type examScreen struct {
	root *fyne.Container

	clock, conn, upload *pill

	alerts  *banner
	problem *banner
	notes   *guardedEntry

	chat      *fyne.Container // a bubble per message shown
	chatEmpty *widget.Label
	chatView  *container.Scroll
	reply     *guardedEntry
	send      *Button

	finish *Button

	warn       *overlay
	ack        *Button
	pause      *overlay
	confirm    *overlay
	confirmYes *Button
	keep       *Button
	ask        *overlay
	askClose   *Button
	askKeep    *Button
}

func newExamScreen(act Actions, win fyne.Window) *examScreen {
	s := &examScreen{clock: newPill(), conn: newPill(), upload: newPill(),
		alerts: newBanner(), problem: newBanner(), chat: container.NewVBox()}
	report := act.ClipboardUsed
	// Shortcuts with no entry focused are reported too.
	for _, sc := range []fyne.Shortcut{&fyne.ShortcutCopy{}, &fyne.ShortcutCut{}, &fyne.ShortcutPaste{}} {
		win.Canvas().AddShortcut(sc, func(sc fyne.Shortcut) { report(clipboardOp(sc)) })
	}

	// The main card: what to do, and a scratch pad.
	s.notes = newGuardedEntry(report)
	s.notes.MultiLine = true
	s.notes.Wrapping = fyne.TextWrapWord
	s.notes.SetPlaceHolder(PlaceholderNotes)
	s.notes.SetMinRowsVisible(10)
	intro := container.NewVBox(
		heading("Your exam is running"),
		body("Keep this window open until you finish. Work on your exam as your teacher told you; "+
			"if you need anything, write to your proctor on the right."),
		muted("Leaving this window, opening programs the exam does not allow, or connecting another display is reported to your proctor."),
	)
	main := surface(container.NewBorder(container.NewVBox(intro, subheading("Scratch paper")), nil, nil, nil, s.notes))

	// The chat with the proctor.
	s.reply = newGuardedEntry(report)
	s.reply.SetPlaceHolder(PlaceholderReply)
	sendReply := func() {
		if strings.TrimSpace(s.reply.Text) == "" {
			return
		}
		act.Reply(s.reply.Text)
		s.reply.SetText("")
	}
	s.reply.OnSubmitted = func(string) { sendReply() }
	s.send = iconButton("Send", theme.MailSendIcon(), false, sendReply)
	s.chatEmpty = muted("Your proctor can send you messages here, and you can answer them.")
	s.chatView = container.NewVScroll(container.NewVBox(s.chatEmpty, s.chat))
	chatCard := surface(container.NewBorder(subheading("Messages from your proctor"),
		container.NewBorder(nil, nil, nil, s.send, s.reply), nil, nil, s.chatView))
	chatBox := container.New(fixedWidth{380}, chatCard)

	s.finish = iconButton(LabelFinish, theme.LogoutIcon(), true, act.RequestFinish)
	hint := muted("Finish only when you are done: you cannot come back to the exam afterwards.")
	hint.Wrapping, hint.Truncation = fyne.TextWrapOff, fyne.TextTruncateEllipsis
	footer := container.NewBorder(nil, nil, nil, s.finish, hint)

	content := container.New(layout.NewCustomPaddedLayout(16, 16, 20, 20), container.NewBorder(
		container.NewVBox(s.problem.root, s.alerts.root),
		container.New(layout.NewCustomPaddedLayout(10, 0, 0, 0), footer),
		nil, container.New(layout.NewCustomPaddedLayout(0, 0, 16, 0), chatBox), container.NewVScroll(main)))

	// The overlays.
	s.ack = iconButton(LabelAcknowledge, theme.ConfirmIcon(), true, act.AcknowledgeWarning)
	s.warn = newOverlay(theme.NewWarningThemedResource(theme.WarningIcon()), s.ack)
	s.pause = newOverlay(theme.NewPrimaryThemedResource(theme.MediaPauseIcon()))
	s.confirmYes = button(LabelConfirm, true, act.ConfirmFinish)
	s.keep = button("Keep working", false, act.CancelFinish)
	s.confirm = newOverlay(theme.NewPrimaryThemedResource(theme.QuestionIcon()), s.keep, s.confirmYes)
	s.confirm.set("Finish the exam?",
		"You cannot come back to the exam after finishing. Invigil stops recording, uploads what is left and shows you a receipt.")
	s.askClose = button("Close them", true, func() { act.AnswerAsk(true) })
	s.askKeep = button("Keep them open", false, func() { act.AnswerAsk(false) })
	s.ask = newOverlay(theme.NewWarningThemedResource(theme.WarningIcon()), s.askKeep, s.askClose)

	s.root = container.NewStack(content, s.pause.root, s.confirm.root, s.ask.root, s.warn.root)
	return s
}

func (s *examScreen) object() fyne.CanvasObject { return s.root }

func (s *examScreen) controls() []fyne.CanvasObject {
	c := []fyne.CanvasObject{s.ack, s.askClose, s.askKeep, s.confirmYes, s.keep}
	if !s.covered() {
		c = append(c, s.finish, s.send, s.reply, s.notes)
	}
	return c
}

// covered reports whether an overlay covers the screen.
func (s *examScreen) covered() bool {
	return s.warn.root.Visible() || s.pause.root.Visible() || s.confirm.root.Visible() || s.ask.root.Visible()
}

// barItems are the status pills the app bar shows during the exam.
func (s *examScreen) barItems() []fyne.CanvasObject {
	return []fyne.CanvasObject{container.NewCenter(s.clock.root), container.NewCenter(s.conn.root), container.NewCenter(s.upload.root)}
}

func (s *examScreen) update(st client.State) {
	e := st.Exam
	if e == nil {
		return
	}
	s.clock.set(nil, "Elapsed "+clock(st.Now.Sub(e.Started)))
	if e.Connected {
		s.conn.set(colorOK, "Connected")
	} else {
		s.conn.set(colorAmberDot, "Reconnecting… recording kept on this computer")
	}
	switch {
	case e.BacklogMessages == 0:
		s.upload.set(colorOK, "All uploaded")
	default:
		s.upload.set(colorAmberDot, fmt.Sprintf("%s waiting to upload", client.HumanBytes(e.BacklogBytes)))
	}
	s.problem.set(toneError, e.Problem)
	if len(e.Alerts) > 0 {
		s.alerts.set(toneWarning, "Your proctor has been told: "+strings.Join(e.Alerts, "; ")+".")
	} else {
		s.alerts.set(toneWarning, "")
	}
	s.notes.blocked, s.reply.blocked = e.ClipboardBlocked, e.ClipboardBlocked

	if shown := len(s.chat.Objects); len(e.Messages) > shown {
		for _, m := range e.Messages[shown:] {
			s.chat.Add(chatBubble(m))
		}
		s.chatEmpty.Hide()
		s.chat.Refresh()
		s.chatView.ScrollToBottom()
	}

	// One overlay at a time: a warning first, then a question, then the
	// finish confirmation, then the pause.
	showWarn := e.Warning != nil
	showAsk := !showWarn && len(e.Ask) > 0
	showConfirm := !showWarn && !showAsk && e.ConfirmFinish
	showPause := !showWarn && !showAsk && !showConfirm && e.Paused
	if showWarn {
		s.warn.set("A warning from your proctor", e.Warning.Text)
	}
	if showAsk {
		s.ask.set("Close these programs?", "The exam does not allow "+strings.Join(e.Ask, ", ")+
			". Invigil can close them for you now; save your work in them first. If you keep them open, your proctor is told.")
	}
	if showPause {
		text := "Stay in front of the camera. The recording goes on, and the exam continues as soon as your proctor resumes it."
		if e.PauseReason != "" {
			text = "Your proctor says: “" + e.PauseReason + "”\n\n" + text
		}
		s.pause.set("Your exam is paused", text)
	}
	setVisible(s.warn.root, showWarn)
	setVisible(s.ask.root, showAsk)
	setVisible(s.confirm.root, showConfirm)
	setVisible(s.pause.root, showPause)
	setEnabled(s.finish, !s.covered())
}

func chatBubble(m client.ChatMessage) fyne.CanvasObject {
	who := "Proctor"
	bgc := colorInfoBg
	if !m.FromProctor {
		who, bgc = "You", color.NRGBA{R: 0xee, G: 0xf0, B: 0xf4, A: 0xff}
	}
	head := muted(who + " · " + m.At.Local().Format("15:04"))
	text := body(m.Text)
	bg := canvas.NewRectangle(bgc)
	bg.CornerRadius = 8
	bubble := container.NewStack(bg, container.New(layout.NewCustomPaddedLayout(0, 0, 4, 4), tight(head, text)))
	if m.FromProctor {
		return container.New(layout.NewCustomPaddedLayout(0, 0, 0, 28), bubble)
	}
	return container.New(layout.NewCustomPaddedLayout(0, 0, 28, 0), bubble)
}

// clock formats an elapsed time as h:mm:ss.
func clock(d time.Duration) string {
	d = max(d, 0).Truncate(time.Second)
	return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

var (
	colorOK       = color.NRGBA{R: 0x34, G: 0xd3, B: 0x63, A: 0xff}
	colorAmberDot = color.NRGBA{R: 0xf5, G: 0xa5, B: 0x24, A: 0xff}
)

// pill is a status item of the app bar: an optional dot and a text.
type pill struct {
	root *fyne.Container
	dot  *canvas.Circle
	dotC *fyne.Container
	text *canvas.Text
}

func newPill() *pill {
	p := &pill{dot: canvas.NewCircle(colorOK), text: canvas.NewText("", colorAppBarText)}
	p.text.TextSize = 14
	p.dotC = container.NewCenter(container.New(fixedSize{fyne.NewSize(9, 9)}, p.dot))
	bg := canvas.NewRectangle(color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0x18})
	bg.CornerRadius = 13
	p.root = container.NewStack(bg, container.New(layout.NewCustomPaddedLayout(3, 3, 10, 12), container.NewHBox(p.dotC, p.text)))
	return p
}

func (p *pill) set(dot color.Color, text string) {
	if dot == nil {
		p.dotC.Hide()
	} else {
		p.dotC.Show()
		if p.dot.FillColor != dot {
			p.dot.FillColor = dot
			p.dot.Refresh()
		}
	}
	if p.text.Text != text {
		p.text.Text = text
		p.text.Refresh()
	}
}

// fixedWidth gives its objects a fixed width and their height.
type fixedWidth struct{ w float32 }

func (f fixedWidth) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Resize(fyne.NewSize(f.w, size.Height))
		o.Move(fyne.NewPos(0, 0))
	}
}

func (f fixedWidth) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var h float32
	for _, o := range objs {
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(f.w, h)
}
