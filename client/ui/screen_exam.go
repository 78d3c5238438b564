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
	"github.com/invigil/invigil/client/exam"
)

// Labels and placeholders of the exam screen (tests and the test driver
// use them).
const (
	PlaceholderReply = "Write to your proctor…"
	PlaceholderNotes = "Scratch paper: notes here are not sent to anyone and are deleted when you finish."
	LabelFinish      = "Finish exam"
	LabelConfirm     = "Yes, finish now"
	LabelAcknowledge = "I understand"
	LabelNotice      = "Privacy notice"
)

// examScreen is the exam itself, full screen: status in the bar, the
// proctor's messages, a scratch pad and the Finish button; warnings, the
// pause, the finish confirmation and enforcement questions cover it.
type examScreen struct {
	root *fyne.Container

	clock, conn, upload *pill

	serious *banner
	minor   *banner
	kept    *keptBox
	problem *banner
	notes   *guardedEntry

	chat      *messageList
	chatEmpty *widget.Label
	chatView  *container.Scroll
	reply     *guardedEntry
	send      *Button

	introText  *widget.Label
	introRule  *widget.Label
	finish     *Button
	noticeB    *Button
	notice     *noticeOverlay
	noticeText string

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

// The exam screen's introduction, without and with an exam browser.
const (
	introPlain = "Keep this window open until you finish. Work on your exam as your teacher told you; " +
		"if you need anything, write to your proctor on the right."
	rulePlain    = "Leaving this window, opening programs the exam does not allow, or connecting another display is reported to your proctor."
	introBrowser = "Your exam's page opens in its own window, the exam browser: work there. " +
		"Come back to this window to write to your proctor or to finish; the small panel in the corner brings you here."
	ruleBrowser = "Moving between the exam page, this window and the programs your exam allows is fine. " +
		"Other programs, leaving the exam's site or connecting another display is reported to your proctor."
)

func newExamScreen(act Actions, win fyne.Window) *examScreen {
	m := more(act)
	s := &examScreen{clock: newPill(), conn: newPill(), upload: newPill(),
		serious: newBanner(), minor: newBanner(), kept: newKeptBox(m.CloseKept), problem: newBanner(), chat: newMessageList(),
		notice: newNoticeOverlay(m.HideNotice)}
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
	s.introText = body(introPlain)
	s.introRule = muted(rulePlain)
	intro := container.NewVBox(heading("Your exam is running"), s.introText, s.introRule)
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
	s.chatView = container.NewVScroll(container.NewVBox(s.chatEmpty, s.chat.box))
	chatCard := surface(container.NewBorder(subheading("Messages"),
		container.NewBorder(nil, nil, nil, s.send, s.reply), nil, nil, s.chatView))
	chatBox := container.New(fixedWidth{380}, chatCard)

	s.finish = iconButton(LabelFinish, theme.LogoutIcon(), true, act.RequestFinish)
	hint := muted("Finish only when you are done: you cannot come back to the exam afterwards.")
	hint.Wrapping, hint.Truncation = fyne.TextWrapOff, fyne.TextTruncateEllipsis
	s.noticeB = iconButton(LabelNotice, theme.InfoIcon(), false, m.ShowNotice)
	footer := container.NewBorder(nil, nil, nil, container.NewHBox(s.noticeB, s.finish), hint)

	// The pause covers the exam's card only: the messages stay usable.
	s.pause = newOverlay(theme.NewPrimaryThemedResource(theme.MediaPauseIcon()))
	content := container.New(layout.NewCustomPaddedLayout(16, 16, 20, 20), container.NewBorder(
		container.NewVBox(s.problem.root, s.serious.root, s.minor.root, s.kept.root),
		container.New(layout.NewCustomPaddedLayout(10, 0, 0, 0), footer),
		nil, container.New(layout.NewCustomPaddedLayout(0, 0, 16, 0), chatBox), container.NewStack(container.NewVScroll(main), s.pause.root)))

	// The overlays.
	s.ack = iconButton(LabelAcknowledge, theme.ConfirmIcon(), true, act.AcknowledgeWarning)
	s.warn = newOverlay(theme.NewWarningThemedResource(theme.WarningIcon()), s.ack)
	s.confirmYes = button(LabelConfirm, true, act.ConfirmFinish)
	s.keep = button("Keep working", false, act.CancelFinish)
	s.confirm = newOverlay(theme.NewPrimaryThemedResource(theme.QuestionIcon()), s.keep, s.confirmYes)
	s.confirm.set("Finish the exam?",
		"You cannot come back to the exam after finishing. Invigil stops recording, uploads what is left and shows you a receipt.")
	s.askClose = button("Close them", true, func() { act.AnswerAsk(true) })
	s.askKeep = button("Keep them open", false, func() { act.AnswerAsk(false) })
	s.ask = newOverlay(theme.NewWarningThemedResource(theme.WarningIcon()), s.askKeep, s.askClose)

	s.root = container.NewStack(content, s.notice.root, s.confirm.root, s.ask.root, s.warn.root)
	return s
}

func (s *examScreen) object() fyne.CanvasObject { return s.root }

func (s *examScreen) controls() []fyne.CanvasObject {
	c := []fyne.CanvasObject{s.ack, s.askClose, s.askKeep, s.confirmYes, s.keep, s.notice.close}
	if !s.covered() {
		// The messages stay usable during a pause.
		c = append(c, s.send, s.reply, s.kept.close, s.noticeB)
		if !s.pause.root.Visible() {
			c = append(c, s.finish, s.notes)
		}
	}
	return c
}

// covered reports whether a modal overlay covers the whole screen (the
// pause covers the exam's card only).
func (s *examScreen) covered() bool {
	return s.warn.root.Visible() || s.confirm.root.Visible() || s.ask.root.Visible() || s.notice.root.Visible()
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
	if e.ExamBrowser {
		setText(s.introText, introBrowser)
		setText(s.introRule, ruleBrowser)
	} else {
		setText(s.introText, introPlain)
		setText(s.introRule, rulePlain)
	}
	if e.Paused {
		s.clock.set(nil, "Paused at "+clock(e.Elapsed(st.Now)))
	} else {
		s.clock.set(nil, "Elapsed "+clock(e.Elapsed(st.Now)))
	}
	if e.Connected {
		s.conn.set(colorOK, "Connected")
	} else {
		s.conn.set(colorAmberDot, "Reconnecting… recording kept on this computer")
	}
	switch {
	case e.BacklogMessages == 0:
		s.upload.set(colorOK, "All uploaded")
	default:
		s.upload.set(colorAmberDot, fmt.Sprintf("%s waiting to upload", exam.HumanBytes(e.BacklogBytes)))
	}
	s.problem.set(toneError, e.Problem)
	s.serious.set(toneError, alertsText("Fix now, your proctor has been told: ", e.Serious))
	minorIntro := "Also reported to your proctor: "
	if len(e.Serious) == 0 {
		minorIntro = "Reported to your proctor: "
	}
	s.minor.set(toneWarning, alertsText(minorIntro, e.Minor))
	s.kept.update(e)
	s.notes.blocked, s.reply.blocked = e.ClipboardBlocked, e.ClipboardBlocked

	if s.chat.update(e.Messages) {
		s.chatEmpty.Hide()
		s.chatView.ScrollToBottom()
	}
	if e.Notice != s.noticeText {
		s.noticeText = e.Notice
		s.notice.set(e.Notice)
	}
	setVisible(s.noticeB, e.Notice != "")

	// One overlay at a time: a warning first, then a question, then the
	// finish confirmation, then the pause.
	showWarn := e.Warning != nil
	showAsk := !showWarn && len(e.Ask) > 0
	showNotice := !showWarn && !showAsk && e.NoticeOpen
	showConfirm := !showWarn && !showAsk && !showNotice && e.ConfirmFinish
	showPause := e.Paused
	if showWarn {
		s.warn.set("A warning from your proctor", e.Warning.Text)
	}
	if showAsk {
		n := len(e.Ask)
		title := "Close these programs?"
		if n == 1 {
			title = "Close " + e.Ask[0] + "?"
		}
		s.ask.set(title, "The exam does not allow "+joinNames(e.Ask)+". Invigil can close "+itOrThem(n)+" for you now; save your work in "+
			itOrThem(n)+" first. If you keep "+itOrThem(n)+" open, your proctor is told, and you can still close "+itOrThem(n)+
			" later from this screen.")
		s.askClose.SetText(AskCloseLabel(e.Ask))
		s.askKeep.SetText(AskKeepLabel(e.Ask))
	}
	if showPause {
		text := "Stay in front of the camera. The recording goes on, and the exam continues as soon as your proctor resumes it. " +
			"You can write to your proctor under Messages."
		if e.PauseReason != "" {
			text = "Your proctor says: “" + e.PauseReason + "”\n\n" + text
		}
		s.pause.set("Your exam is paused", text)
	}
	setVisible(s.warn.root, showWarn)
	setVisible(s.ask.root, showAsk)
	setVisible(s.confirm.root, showConfirm)
	setVisible(s.pause.root, showPause)
	setVisible(s.notice.root, showNotice)
	setEnabled(s.finish, !s.covered() && !showPause)
	setEnabled(s.noticeB, !s.covered())
}

// alertsText is intro and the alerts joined, or "" when there are none.
func alertsText(intro string, alerts []string) string {
	if len(alerts) == 0 {
		return ""
	}
	return intro + strings.Join(alerts, "; ") + "."
}

// AskCloseLabel and AskKeepLabel are the buttons of the question to close
// programs the exam does not allow.
func AskCloseLabel(names []string) string {
	if len(names) == 1 {
		return "Close " + names[0]
	}
	return "Close them"
}

// AskKeepLabel: see AskCloseLabel.
func AskKeepLabel(names []string) string {
	if len(names) == 1 {
		return "Keep it open"
	}
	return "Keep them open"
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
