package ui_test

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client/ui"
)

// labels returns the text of every label under o.
func labels(o fyne.CanvasObject) []string {
	var out []string
	var walk func(fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		switch w := o.(type) {
		case *widget.Label:
			if w.Visible() {
				out = append(out, w.Text)
			}
		case fyne.Widget:
			for _, c := range test.WidgetRenderer(w).Objects() {
				walk(c)
			}
		case *fyne.Container:
			if w.Visible() {
				for _, c := range w.Objects {
					walk(c)
				}
			}
		}
	}
	walk(o)
	return out
}

// TestConfigErrorWindow: the window names the file and the problem, and
// Close (or Enter, Space, Escape) closes it.
func TestConfigErrorWindow(t *testing.T) {
	test.NewTempApp(t)
	closed := 0
	file := "/etc/invigil/config.json"
	problem := `not a valid configuration: invalid character 's' looking for beginning of value`
	c := ui.NewConfigError(file, problem, func() { closed++ })
	w := test.NewTempWindow(t, c.Object())
	w.Resize(fyne.NewSize(800, 600))
	text := strings.Join(labels(c.Object()), "\n")
	for _, want := range []string{ui.ConfigErrorTitle, file, problem, "IT staff"} {
		if !strings.Contains(text, want) {
			t.Errorf("the window does not say %q:\n%s", want, text)
		}
	}
	if c.Close.Text != "Close" {
		t.Errorf("button %q", c.Close.Text)
	}
	test.Tap(c.Close)
	if closed != 1 {
		t.Fatalf("Close tapped: onClose ran %d times", closed)
	}
	for _, k := range []fyne.KeyName{fyne.KeyReturn, fyne.KeySpace, fyne.KeyEscape} {
		c.Key(&fyne.KeyEvent{Name: k})
	}
	if closed != 4 {
		t.Errorf("Enter, Space, Escape: onClose ran %d times in all, want 4", closed)
	}
	// A problem that is no one file's hides the file row.
	c = ui.NewConfigError("", "--server: this computer's managed configuration sets server", nil)
	test.NewTempWindow(t, c.Object())
	if text := strings.Join(labels(c.Object()), "\n"); strings.Contains(text, "File") {
		t.Errorf("a file row without a file:\n%s", text)
	}
}
