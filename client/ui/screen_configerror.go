package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// ConfigErrorTitle is the title of the window the desktop app shows when
// its configuration cannot be used (cmd/invigil: `invigil run` exits 11
// after it).
const ConfigErrorTitle = "Invigil cannot start"

// ConfigError is that window's content: what is wrong, in which file, who
// can fix it, and a Close button. Enter, Space and Escape close it too
// (Keys).
type ConfigError struct {
	root    fyne.CanvasObject
	Close   *Button
	File    *widget.Label // the file's path; hidden when no file is to blame
	Problem *widget.Label
	onClose func()
}

// NewConfigError builds the window's content. file is the configuration
// file that is at fault ("" when the problem is not one file's, e.g. a
// flag that tries to change a locked key); problem says what is wrong;
// onClose runs on Close.
func NewConfigError(file, problem string, onClose func()) *ConfigError {
	c := &ConfigError{onClose: onClose}
	c.Close = button("Close", true, c.close)
	c.File = body(file)
	c.File.TextStyle = fyne.TextStyle{Monospace: true}
	c.File.Wrapping = fyne.TextWrapBreak // a path has no spaces to wrap at
	c.Problem = body(problem)
	lead := "This computer's Invigil configuration cannot be used, so no exam can start here. Nothing was recorded."
	fileRow := container.NewVBox(subheading("File"), c.File)
	if file == "" {
		fileRow.Hide()
	}
	icon := widget.NewIcon(theme.NewErrorThemedResource(theme.ErrorIcon()))
	card := surface(container.NewVBox(
		container.NewHBox(container.New(fixedSize{fyne.NewSize(48, 48)}, icon)),
		heading(ConfigErrorTitle),
		body(lead),
		fileRow,
		subheading("Problem"), c.Problem,
		muted("IT staff: fix or replace the file (docs/deploy.md, \"The machine configuration\"); `invigil config show` prints what Invigil reads. Students: tell your exam's staff; this is not something you did."),
	))
	// The text scrolls; Close stays in view whatever the window's size.
	bar := container.New(layout.NewCustomPaddedLayout(8, 16, 24, 24), container.NewBorder(nil, nil, nil, c.Close))
	c.root = container.NewBorder(nil, bar, nil, nil, container.NewVScroll(container.New(layout.NewCustomPaddedLayout(24, 8, 24, 24),
		container.New(column{640}, container.NewVBox(card)))))
	return c
}

// Object is the content to put in the window.
func (c *ConfigError) Object() fyne.CanvasObject { return c.root }

// Key handles a key typed on the window's canvas: Enter, Space and
// Escape close it, as Close does.
func (c *ConfigError) Key(e *fyne.KeyEvent) {
	switch e.Name {
	case fyne.KeyReturn, fyne.KeyEnter, fyne.KeySpace, fyne.KeyEscape:
		c.close()
	}
}

func (c *ConfigError) close() {
	if c.onClose != nil {
		c.onClose()
	}
}
