package ui

import (
	"fmt"
	"slices"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
)

// ActionLabel is the button text of an error screen's action.
func ActionLabel(k client.ErrorKind, a client.Action) string {
	switch a {
	case client.ActionRetry:
		if k == client.ErrorNotOpen {
			return "Check now"
		}
		return "Try again"
	case client.ActionEnterCode:
		return "Enter a join code"
	case client.ActionBackNotice:
		return "Back to the notice"
	case client.ActionEditServer:
		return "Change address or code"
	}
	return "Quit"
}

// errorScreen is an error the student can act on: what happened, what to
// do, and the buttons to do it.
type errorScreen struct {
	act     Actions
	root    fyne.CanvasObject
	icon    *widget.Icon
	title   *widget.Label
	message *widget.Label
	when    *widget.Label
	safe    *banner
	detail  *widget.Label
	buttons *fyne.Container
	kind    client.ErrorKind
	actions []client.Action
}

func newErrorScreen(act Actions) *errorScreen {
	s := &errorScreen{act: act, icon: widget.NewIcon(nil), title: heading(""), message: body(""), when: subheading(""),
		safe: newBanner(), detail: muted(""), buttons: container.NewHBox()}
	iconBox := container.New(fixedSize{fyne.NewSize(64, 64)}, s.icon)
	card := surface(container.NewVBox(
		container.NewHBox(iconBox),
		s.title, s.message, s.when, s.safe.root,
		container.New(layout.NewCustomPaddedLayout(8, 0, 0, 0), s.detail),
	))
	// The buttons stay in view under the text, which scrolls (issue 10:
	// small screens).
	s.root = container.NewBorder(nil, actionBar(nil, s.buttons), nil, nil,
		container.NewVScroll(container.New(layout.NewCustomPaddedLayout(56, 24, 24, 24),
			container.New(column{700}, container.NewVBox(card)))))
	return s
}

func (s *errorScreen) object() fyne.CanvasObject { return s.root }

func (s *errorScreen) controls() []fyne.CanvasObject { return s.buttons.Objects }

func errorIcon(k client.ErrorKind) fyne.Resource {
	switch k {
	case client.ErrorNotOpen:
		return theme.NewPrimaryThemedResource(theme.HistoryIcon())
	case client.ErrorUnreachable, client.ErrorUpload:
		return theme.NewWarningThemedResource(theme.WarningIcon())
	case client.ErrorCamera:
		return theme.NewWarningThemedResource(theme.MediaVideoIcon())
	case client.ErrorDeclined:
		return theme.NewPrimaryThemedResource(theme.InfoIcon())
	}
	return theme.NewErrorThemedResource(theme.ErrorIcon())
}

func (s *errorScreen) update(st client.State) {
	e := st.Error
	if e == nil {
		return
	}
	kindChanged := e.Kind != s.kind
	if kindChanged {
		s.kind = e.Kind
		s.icon.SetResource(errorIcon(e.Kind))
	}
	setText(s.title, e.Title)
	setText(s.message, e.Message)
	if e.Detail != "" {
		setText(s.detail, "Details for IT support: "+e.Detail)
	}
	setVisible(s.detail, e.Detail != "")
	if e.SpoolSafe {
		s.safe.set(toneSuccess, "Your recordings are safe on this computer. They upload as soon as the exam server can be reached.")
	} else {
		s.safe.set(toneSuccess, "")
	}
	var when string
	switch {
	case e.Kind == client.ErrorNotOpen && !e.OpensAt.IsZero():
		when = fmt.Sprintf("Opens at %s (%s)", e.OpensAt.Local().Format("15:04 on Mon 2 Jan"), untilText(e.OpensAt.Sub(st.Now)))
	case !e.RetryAt.IsZero():
		when = fmt.Sprintf("Trying again %s…", untilText(e.RetryAt.Sub(st.Now)))
	}
	if when != "" {
		setText(s.when, when)
	}
	setVisible(s.when, when != "")
	// The labels depend on the kind too (Retry is "Check now" for an exam
	// not open yet): a screen can go from one error to another directly.
	if kindChanged || !slices.Equal(e.Actions, s.actions) {
		s.actions = e.Actions
		s.buttons.Objects = nil
		// The first action is the main one; it goes on the right.
		for i := len(e.Actions) - 1; i >= 0; i-- {
			a := e.Actions[i]
			s.buttons.Add(button(ActionLabel(e.Kind, a), i == 0, s.handler(a)))
		}
		s.buttons.Refresh()
	}
}

func (s *errorScreen) handler(a client.Action) func() {
	switch a {
	case client.ActionRetry:
		return s.act.Retry
	case client.ActionEnterCode:
		return s.act.EnterCode
	case client.ActionBackNotice:
		return s.act.BackToNotice
	case client.ActionEditServer:
		return more(s.act).EditServer
	}
	return s.act.Quit
}

// untilText says how long until something, in words.
func untilText(d time.Duration) string {
	switch {
	case d <= time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("in %d s", int(d.Seconds()+0.5))
	case d < time.Hour:
		return fmt.Sprintf("in %d min", int(d.Minutes()+0.5))
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("in %d h", h)
		}
		return fmt.Sprintf("in %d h %d min", h, m)
	}
	return fmt.Sprintf("in %d days", int(d.Hours()/24+0.5))
}
