package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/lockdown"
)

// scrim darkens what is under an overlay and swallows taps on it, so only
// the overlay's own buttons work.
type scrim struct {
	widget.BaseWidget
	overlay *overlay // the overlay it belongs to (Escape cancels it)
}

func newScrim() *scrim {
	s := &scrim{}
	s.ExtendBaseWidget(s)
	return s
}

// Tapped implements fyne.Tappable: taps on the scrim do nothing.
func (s *scrim) Tapped(*fyne.PointEvent) {}

// CreateRenderer implements fyne.Widget.
func (s *scrim) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(canvas.NewRectangle(colorScrim))
}

// overlay is a modal card over a screen.
type overlay struct {
	root  *fyne.Container
	icon  *widget.Icon
	title *widget.Label
	text  *widget.Label
	extra *fyne.Container
	btns  *fyne.Container
}

func newOverlay(icon fyne.Resource, buttons ...fyne.CanvasObject) *overlay {
	o := &overlay{icon: widget.NewIcon(icon), title: subheading(""), text: body(""), extra: container.NewVBox(),
		btns: container.NewHBox(buttons...)}
	iconBox := container.New(fixedSize{fyne.NewSize(48, 48)}, o.icon)
	card := surface(container.NewVBox(
		container.NewCenter(iconBox),
		o.title, o.text, o.extra,
		container.New(layout.NewCustomPaddedLayout(8, 0, 0, 0), container.NewBorder(nil, nil, nil, o.btns)),
	))
	o.title.Alignment = fyne.TextAlignCenter
	sc := newScrim()
	sc.overlay = o
	o.root = container.NewStack(sc,
		container.NewVBox(layout.NewSpacer(), container.New(column{580}, card), layout.NewSpacer()))
	o.root.Hide()
	return o
}

func (o *overlay) set(title, text string) {
	setText(o.title, title)
	setText(o.text, text)
}

// guardedEntry is an entry that reports copy, cut and paste to lockdown
// and refuses them when the policy blocks the clipboard.
type guardedEntry struct {
	widget.Entry
	report  func(lockdown.ClipboardOp)
	blocked bool
}

func newGuardedEntry(report func(lockdown.ClipboardOp)) *guardedEntry {
	e := &guardedEntry{report: report}
	e.ExtendBaseWidget(e)
	return e
}

// TypedShortcut implements fyne.Shortcutable.
func (e *guardedEntry) TypedShortcut(s fyne.Shortcut) {
	if op := clipboardOp(s); op != "" {
		e.report(op)
		if e.blocked {
			return
		}
	}
	e.Entry.TypedShortcut(s)
}

// TypedKey implements fyne.Focusable: Escape goes to the window (it
// cancels a dialog), everything else to the entry.
func (e *guardedEntry) TypedKey(ev *fyne.KeyEvent) {
	if ev.Name == fyne.KeyEscape {
		forwardKey(e, ev)
		return
	}
	e.Entry.TypedKey(ev)
}

// AcceptsTab implements fyne.Tabbable: Tab leaves the entry, also a
// multi-line one (the scratch paper), which would otherwise trap the
// keyboard focus (it would type a tab).
func (e *guardedEntry) AcceptsTab() bool { return false }

// TappedSecondary implements fyne.SecondaryTappable: the context menu
// (cut, copy, paste) is off while the clipboard is blocked.
func (e *guardedEntry) TappedSecondary(pe *fyne.PointEvent) {
	if e.blocked {
		return
	}
	e.Entry.TappedSecondary(pe)
}

func clipboardOp(s fyne.Shortcut) lockdown.ClipboardOp {
	switch s.(type) {
	case *fyne.ShortcutCopy:
		return lockdown.ClipboardCopy
	case *fyne.ShortcutCut:
		return lockdown.ClipboardCut
	case *fyne.ShortcutPaste:
		return lockdown.ClipboardPaste
	}
	return ""
}
