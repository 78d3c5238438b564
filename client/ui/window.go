package ui

import (
	"fyne.io/fyne/v2"

	"github.com/invigil/invigil/lockdown"
)

// The window's size. Invigil runs on school laptops with 1280×720 and
// 1366×768 screens, often with the system's text scaled up, and on lab
// machines without a window manager, where a window taller than the
// screen is cut off at the top and the bottom (the app bar and the
// buttons). The window therefore takes the size the screen has room for,
// up to windowMax; the screens scroll their content and keep their
// buttons in a bar that is always visible.

// windowMax is the window's size where the screen has room for it.
var windowMax = fyne.NewSize(1100, 780)

// screenMargin is the part of the screen (in pixels) the window leaves
// free for a title bar and a panel.
var screenMargin = fyne.NewSize(40, 96)

// smallestScreen is the screen assumed when the real one cannot be read:
// the smallest one Invigil supports, in pixels.
var smallestScreen = fyne.NewSize(1280, 720)

// screenSize is the primary display's size in pixels (smallestScreen if
// it cannot be read); a variable for tests.
var screenSize = func() fyne.Size {
	ds, err := lockdown.Displays()
	if err != nil || len(ds) == 0 || ds[0].Width <= 0 || ds[0].Height <= 0 {
		return smallestScreen
	}
	return fyne.NewSize(float32(ds[0].Width), float32(ds[0].Height))
}

// fitSize is the window's size, in Fyne's units, for a screen of the given
// size in pixels at the given scale (the system's and FYNE_SCALE).
func fitSize(screen fyne.Size, scale float32) fyne.Size {
	if scale <= 0 {
		scale = 1
	}
	w := (screen.Width - screenMargin.Width) / scale
	h := (screen.Height - screenMargin.Height) / scale
	return fyne.NewSize(min(windowMax.Width, w), min(windowMax.Height, h))
}

// fitWindow sizes the window to the screen at the window's scale and
// centres it. It runs at the first Render: the window exists by then and
// knows its scale.
func (a *App) fitWindow() {
	if a.win.FullScreen() {
		return
	}
	a.win.Resize(fitSize(screenSize(), a.win.Canvas().Scale()))
	a.win.CenterOnScreen()
}
