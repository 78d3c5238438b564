package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
)

// Placeholders of the join screen's entries (the test driver types into
// them).
const (
	PlaceholderServer = "https://proctor.example.edu"
	PlaceholderCode   = "Join code, e.g. PHYS1"
)

// joinScreen asks for the join code (and the server, when no managed
// configuration names one).
type joinScreen struct {
	page       *page
	server     *widget.Entry
	serverBox  *fyne.Container
	fixed      *widget.Label
	code       *widget.Entry
	problem    *banner
	join, quit *Button
	seen       uint64
}

func newJoinScreen(act Actions) *joinScreen {
	s := &joinScreen{server: widget.NewEntry(), code: widget.NewEntry(), problem: newBanner(), fixed: muted("")}
	s.server.SetPlaceHolder(PlaceholderServer)
	s.code.SetPlaceHolder(PlaceholderCode)
	s.code.TextStyle.Monospace = true
	submit := func() { act.Join(s.server.Text, s.code.Text) }
	s.code.OnSubmitted = func(string) { submit() }
	s.server.OnSubmitted = func(string) { submit() }
	s.join = iconButton("Join exam", theme.NavigateNextIcon(), true, submit)
	s.quit = button("Quit", false, act.Quit)
	s.serverBox = container.NewVBox(subheading("Exam server"), s.server,
		muted("As your teacher gave it, e.g. proctor.example.edu: Invigil adds https:// itself."))
	form := container.NewVBox(
		s.serverBox,
		subheading("Join code"),
		s.code,
		s.fixed,
		s.problem.root,
	)
	s.page = newPage(0, "Join your exam", "Type the join code your teacher gave you. If you opened an exam link, this step happens by itself.",
		surface(form), s.quit, s.join)
	return s
}

func (s *joinScreen) object() fyne.CanvasObject { return s.page.root }

func (s *joinScreen) controls() []fyne.CanvasObject {
	return []fyne.CanvasObject{s.server, s.code, s.join, s.quit}
}

func (s *joinScreen) update(st client.State) {
	j := st.Join
	if j == nil || st.Version == s.seen {
		return
	}
	s.seen = st.Version
	// Prefill only what the student has not typed over.
	if s.server.Text == "" || !j.ServerEditable {
		s.server.SetText(j.Server)
	}
	if s.code.Text == "" && j.Code != "" {
		s.code.SetText(j.Code)
	}
	setVisible(s.serverBox, j.ServerEditable)
	if !j.ServerEditable {
		setText(s.fixed, "Exam server: "+j.Server+" (set up by your school)")
	}
	setVisible(s.fixed, !j.ServerEditable)
	s.problem.set(toneError, j.Problem)
}
