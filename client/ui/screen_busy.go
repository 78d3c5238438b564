package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
)

// busyScreen is a short wait: a spinner, a title and a line.
type busyScreen struct {
	root   *fyne.Container
	title  *widget.Label
	detail *widget.Label
	bar    *widget.ProgressBarInfinite
}

func newBusyScreen() *busyScreen {
	s := &busyScreen{title: heading(""), detail: body(""), bar: widget.NewProgressBarInfinite()}
	s.title.Alignment = fyne.TextAlignCenter
	s.detail.Alignment = fyne.TextAlignCenter
	box := container.NewVBox(s.title, s.detail, container.New(layout.NewCustomPaddedLayout(8, 0, 80, 80), s.bar))
	s.root = container.NewVBox(layout.NewSpacer(), container.New(column{560}, surface(box)), layout.NewSpacer())
	return s
}

func (s *busyScreen) object() fyne.CanvasObject     { return s.root }
func (s *busyScreen) controls() []fyne.CanvasObject { return nil }

func (s *busyScreen) update(st client.State) {
	if st.Busy == nil {
		return
	}
	setText(s.title, st.Busy.Title)
	setText(s.detail, st.Busy.Detail)
}
