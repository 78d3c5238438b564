package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// The keyboard. Fyne moves the focus with Tab and Shift-Tab by itself;
// Button takes Enter, Return and Space; an entry submits on Enter. The
// window's key handler (typedKey) gets the keys no focused widget used:
// Escape cancels the dialog on screen (or backs out of a step, for screens
// that say how), and the arrow, page and Home/End keys scroll the screen,
// as buttons, rows and notices cannot be focused to scroll them into view.

// escaper is a screen that Escape backs out of a step on; it reports
// whether it did anything.
type escaper interface {
	escape() bool
}

// typedKey is the window's key handler.
func (a *App) typedKey(ev *fyne.KeyEvent) {
	if a.cur == nil {
		return
	}
	switch ev.Name {
	case fyne.KeyEscape:
		a.escape()
	case fyne.KeyUp, fyne.KeyDown, fyne.KeyPageUp, fyne.KeyPageDown, fyne.KeyHome, fyne.KeyEnd:
		a.scrollKey(ev.Name)
	}
}

// escape cancels the dialog (overlay) on screen with its one secondary
// button ("Keep working"), or lets the screen back out of its step.
func (a *App) escape() {
	if o := a.visibleOverlay(); o != nil {
		if b := o.cancelButton(); b != nil {
			b.Tapped(&fyne.PointEvent{})
		}
		return
	}
	if e, ok := a.cur.(escaper); ok {
		e.escape()
	}
}

// visibleOverlay is the overlay shown over the current screen, if any.
func (a *App) visibleOverlay() *overlay {
	var found *overlay
	walkVisible(a.cur.object(), func(o fyne.CanvasObject) bool {
		if s, ok := o.(*scrim); ok && s.overlay != nil {
			found = s.overlay
			return true
		}
		return false
	})
	return found
}

// cancelButton is the overlay's one visible, enabled button that is not
// the primary one: the choice that changes nothing. An overlay without one
// (a proctor's warning must be acknowledged) is not cancelled by Escape.
func (o *overlay) cancelButton() *Button {
	var cancel *Button
	for _, obj := range o.btns.Objects {
		b, ok := obj.(*Button)
		if !ok || !b.Visible() || b.Disabled() || b.Importance == widget.HighImportance {
			continue
		}
		if cancel != nil {
			return nil
		}
		cancel = b
	}
	return cancel
}

// scrollKey scrolls the current screen's first scrolling area.
func (a *App) scrollKey(k fyne.KeyName) {
	var sc *container.Scroll
	walkVisible(a.cur.object(), func(o fyne.CanvasObject) bool {
		sc, _ = o.(*container.Scroll)
		return sc != nil
	})
	if sc == nil || sc.Content == nil {
		return
	}
	line := 3 * theme.TextSize()
	pageStep := max(sc.Size().Height-2*line, line)
	y := sc.Offset.Y
	switch k {
	case fyne.KeyUp:
		y -= line
	case fyne.KeyDown:
		y += line
	case fyne.KeyPageUp:
		y -= pageStep
	case fyne.KeyPageDown:
		y += pageStep
	case fyne.KeyHome:
		y = 0
	case fyne.KeyEnd:
		y = sc.Content.Size().Height
	}
	y = min(max(y, 0), max(sc.Content.Size().Height-sc.Size().Height, 0))
	sc.ScrollToOffset(fyne.NewPos(sc.Offset.X, y))
}

// walkVisible calls f on o and on every visible object inside it, depth
// first, through containers and scrolls, until f returns true; it reports
// whether one did.
func walkVisible(o fyne.CanvasObject, f func(fyne.CanvasObject) bool) bool {
	if o == nil || !o.Visible() {
		return false
	}
	if f(o) {
		return true
	}
	switch c := o.(type) {
	case *fyne.Container:
		for _, child := range c.Objects {
			if walkVisible(child, f) {
				return true
			}
		}
	case *container.Scroll:
		return walkVisible(c.Content, f)
	}
	return false
}

// keepFocus moves the keyboard focus where it belongs after a render: on
// a new screen into its first empty entry (the join code), and into a
// dialog shown over the screen, whose buttons the mouse alone could reach
// otherwise (the scrim stops the pointer, not Tab). A student typing in an
// entry when a dialog appears keeps typing there: the next key could be a
// space, which would press the dialog's button (acknowledge a warning
// unread); the dialog takes the focus at the next Tab.
func (a *App) keepFocus(newScreen bool) {
	c := a.win.Canvas()
	// A button the render hid ("Take photo" once taken) or an entry it
	// hid keeps the focus in Fyne, and Enter would press it unseen.
	switch f := c.Focused().(type) {
	case *Button, *widget.Entry, *guardedEntry:
		if !contains(a.cur.object(), f.(fyne.CanvasObject)) {
			c.Unfocus()
		}
	}
	if o := a.visibleOverlay(); o != nil {
		switch f := c.Focused().(type) {
		case *widget.Entry, *guardedEntry:
			return
		case fyne.CanvasObject:
			if contains(o.root, f) {
				return
			}
		}
		for _, obj := range o.btns.Objects {
			if b, ok := obj.(*Button); ok && b.Visible() && !b.Disabled() {
				c.Focus(b)
				return
			}
		}
		return
	}
	if !newScreen {
		return
	}
	for _, ctl := range a.Controls() {
		if e, ok := ctl.(*widget.Entry); ok && e.Visible() && !e.Disabled() && e.Text == "" {
			c.Focus(e)
			return
		}
	}
}

// contains reports whether o is root or inside it.
func contains(root, o fyne.CanvasObject) bool {
	return walkVisible(root, func(x fyne.CanvasObject) bool { return x == o })
}
