package ui

import (
	"fmt"
	"image"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/lockdown"
)

// checkScreen is the system check: the camera preview, the network test
// and lockdown's checks, each with its fix; Continue stays off while a
// check fails.
type checkScreen struct {
	page      *page
	preview   *preview
	camBox    *fyne.Container
	rows      *fyne.Container
	list      *fyne.Container // the rows' card
	content   *fyne.Container
	notes     *fyne.Container
	unpinned  *banner
	resumed   *banner
	status    *banner
	closeApps *Button
	again     *Button
	cont      *Button
	items     []client.CheckItem
	camera    bool // whether the last state had a camera
	// shown is whether the last state showed a finished check's result
	// (not running, not closing programs).
	shown bool
}

func newCheckScreen(act Actions) *checkScreen {
	s := &checkScreen{preview: newPreview(320, 240), rows: container.NewVBox(),
		unpinned: newBanner(), resumed: newBanner(), status: newBanner()}
	s.closeApps = iconButton("Close these apps", theme.CancelIcon(), false, act.CloseApps)
	s.closeApps.Importance = widget.DangerImportance
	s.again = iconButton("Check again", theme.ViewRefreshIcon(), false, act.CheckAgain)
	s.cont = iconButton("Continue", theme.NavigateNextIcon(), true, act.Continue)
	camText := container.NewVBox(subheading("Your camera"),
		body("This is what the camera sees. Sit facing it, with your face well lit and fully in the picture."),
		muted("Only you see this preview. Nothing is recorded until you agree to the privacy notice."))
	s.camBox = previewCard(s.preview, camText)
	s.notes = container.NewVBox(s.resumed.root, s.unpinned.root)
	s.list = surface(s.rows)
	s.content = container.NewVBox(s.status.root, s.notes, s.camBox, s.list)
	s.page = newPage(1, "Check this computer", "Invigil checks that this computer is ready for the exam. Fix anything marked in red, then select Check again.",
		s.content, s.closeApps, s.again, s.cont)
	return s
}

func (s *checkScreen) object() fyne.CanvasObject { return s.page.root }

func (s *checkScreen) controls() []fyne.CanvasObject {
	return []fyne.CanvasObject{s.closeApps, s.again, s.cont}
}

func (s *checkScreen) setFrame(img image.Image) { s.preview.show(img) }

func (s *checkScreen) update(st client.State) {
	c := st.Check
	if c == nil {
		return
	}
	setVisible(s.camBox, c.Camera != nil || slices.ContainsFunc(c.Items, func(it client.CheckItem) bool { return it.ID == client.CheckItemCamera }))
	// A camera that goes away would leave its last picture: the
	// placeholder replaces it, once.
	if c.Camera == nil && s.camera {
		s.preview.reset("Starting the camera…")
	}
	s.camera = c.Camera != nil
	if c.Unpinned {
		s.unpinned.set(toneWarning, "This computer does not have the exam server's key set up, so the exam's settings were checked with the key the server sent. "+
			"You can take the exam; your school's IT can set the key up for the future.")
	} else {
		s.unpinned.set(toneWarning, "")
	}
	if c.Resumed {
		s.resumed.set(toneInfo, "You are continuing an exam session you started earlier on this computer. Anything recorded then uploads first.")
	} else {
		s.resumed.set(toneInfo, "")
	}
	if !slices.EqualFunc(c.Items, s.items, sameItem) {
		s.items = c.Items
		s.rows.Objects = nil
		// Problems first, so they are seen without scrolling.
		items := slices.Clone(c.Items)
		slices.SortStableFunc(items, func(a, b client.CheckItem) int { return severity(b) - severity(a) })
		for i, it := range items {
			if i > 0 {
				s.rows.Add(widget.NewSeparator())
			}
			s.rows.Add(checkRow(it))
		}
		s.rows.Refresh()
	}
	if l := closeLabel(c.Closable); s.closeApps.Text != l {
		s.closeApps.SetText(l)
	}
	setVisible(s.closeApps, len(c.Closable) > 0)
	setEnabled(s.closeApps, !c.Closing)
	setEnabled(s.again, !c.Running && !c.Closing)
	setEnabled(s.cont, c.CanContinue)
	s.arrange(c)
	switch {
	case c.Closing:
		s.status.set(toneInfo, "Closing "+strings.Join(c.Closable, ", ")+"…")
	case c.Running:
		s.status.set(toneInfo, "Checking… this takes a few seconds.")
	case c.CanContinue && hasStatus(c.Items, lockdown.StatusWarn):
		s.status.set(toneWarning, "You can continue. The points in amber are reported to your proctor; fix them if you can.")
	case c.CanContinue:
		s.status.set(toneSuccess, "Everything is ready. Select Continue.")
	default:
		s.status.set(toneError, c.Blocking)
	}
}

// arrange puts the checks above the camera while one fails, says next to
// Continue why it is off, and, when a check's result comes in with a
// failure (the first one, or after "Check again" or closing programs),
// scrolls to the first failing row: the page otherwise keeps its scroll
// position, and the row could be out of view under the camera preview.
func (s *checkScreen) arrange(c *client.CheckState) {
	failing := hasStatus(c.Items, lockdown.StatusFail)
	order := []fyne.CanvasObject{s.status.root, s.notes, s.camBox, s.list}
	if failing {
		order = []fyne.CanvasObject{s.status.root, s.notes, s.list, s.camBox}
	}
	if !slices.Equal(order, s.content.Objects) {
		s.content.Objects = order
		s.content.Refresh()
	}
	s.page.setNote(continueNote(c))
	done := !c.Running && !c.Closing
	if done && !s.shown && failing {
		// Problems sort first: the first row is the first failure.
		s.page.reveal(s.rows.Objects[0])
	}
	s.shown = done
}

// continueNote says why Continue is off, next to it.
func continueNote(c *client.CheckState) string {
	switch {
	case c.CanContinue:
		return ""
	case c.Closing:
		return "Continue is available once the programs are closed."
	case c.Running:
		return "Continue is available once the check has finished."
	}
	n := 0
	for _, it := range c.Items {
		if it.Status == lockdown.StatusFail && !it.Running {
			n++
		}
	}
	switch {
	case n == 0 && c.Blocking == "":
		return ""
	case n == 0:
		return "Continue is off: " + c.Blocking
	case n == 1:
		return "Continue is off until the problem marked in red above is fixed."
	}
	return fmt.Sprintf("Continue is off until the %d problems marked in red above are fixed.", n)
}

// closeLabel is the "Close these apps" button's text, naming them.
func closeLabel(names []string) string {
	if len(names) == 0 {
		return "Close these apps"
	}
	if len(names) > 2 {
		return fmt.Sprintf("Close %s and %d more", names[0], len(names)-1)
	}
	return "Close " + strings.Join(names, " and ")
}

// CloseButtonLabel is what the check screen's close button says for these
// programs (tests).
func CloseButtonLabel(names []string) string { return closeLabel(names) }

// severity orders check rows: failures, warnings, unknown, running,
// passes. (lockdown ranks statuses the same way but does not export it.)
func severity(it client.CheckItem) int {
	if it.Running {
		return 1
	}
	switch it.Status {
	case lockdown.StatusFail:
		return 4
	case lockdown.StatusWarn:
		return 3
	case lockdown.StatusUnknown:
		return 2
	}
	return 0
}

func hasStatus(items []client.CheckItem, st lockdown.Status) bool {
	return slices.ContainsFunc(items, func(it client.CheckItem) bool { return it.Status == st && !it.Running })
}

func sameItem(a, b client.CheckItem) bool {
	return a.ID == b.ID && a.Title == b.Title && a.Status == b.Status && a.Summary == b.Summary &&
		a.Running == b.Running && slices.Equal(a.Fixes, b.Fixes)
}

// checkRow is one check: its icon, title, what was found and the fixes.
func checkRow(it client.CheckItem) fyne.CanvasObject {
	// A still icon for a running check (the banner above says "Checking…"):
	// an animation per row would redraw the screen for nothing.
	icon := widget.NewIcon(statusIcon(it.Status))
	if it.Running {
		icon.SetResource(theme.NewPrimaryThemedResource(theme.HistoryIcon()))
	}
	title := widget.NewLabel(it.Title)
	title.TextStyle.Bold = true
	title.Wrapping = fyne.TextWrapWord
	summary := body(it.Summary)
	if it.Status == lockdown.StatusFail && !it.Running {
		summary.Importance = widget.DangerImportance
	}
	text := tight(title, summary)
	for _, fix := range it.Fixes {
		l := body("→  " + fix)
		l.TextStyle.Bold = it.Status == lockdown.StatusFail
		text.Add(container.New(layout.NewCustomPaddedLayout(0, 0, 12, 0), l))
	}
	iconBox := container.New(fixedSize{fyne.NewSize(32, 32)}, icon)
	return container.NewBorder(nil, nil, container.NewVBox(container.New(layout.NewCustomPaddedLayout(6, 0, 0, 0), iconBox)), nil, text)
}
