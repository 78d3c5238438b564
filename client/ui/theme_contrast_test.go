package ui

import (
	"fmt"
	"image/color"
	"math"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// WCAG 2.1 AA: 4.5:1 for text, 3:1 for large text and for the parts of
// controls one needs to see (an entry's border, the focus ring).
const (
	aaText = 4.5
	aaUI   = 3.0
)

// luminance is WCAG's relative luminance of an opaque colour.
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	lin := func(v uint32) float64 {
		s := float64(v) / 0xffff
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

// contrast is WCAG's contrast ratio of two opaque colours.
func contrast(a, b color.Color) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// over lays a (possibly translucent) colour over an opaque one.
func over(top, under color.Color) color.Color {
	t, u := color.NRGBAModel.Convert(top).(color.NRGBA), color.NRGBAModel.Convert(under).(color.NRGBA)
	a := float64(t.A) / 0xff
	mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x)*a + float64(y)*(1-a))) }
	return color.NRGBA{R: mix(t.R, u.R), G: mix(t.G, u.G), B: mix(t.B, u.B), A: 0xff}
}

func TestLuminanceKnownValues(t *testing.T) {
	if got := contrast(color.Black, color.White); math.Abs(got-21) > 0.01 {
		t.Errorf("black on white: %.2f, want 21", got)
	}
	// #767676 on white is the classic 4.54:1.
	if got := contrast(color.NRGBA{0x76, 0x76, 0x76, 0xff}, color.White); math.Abs(got-4.54) > 0.01 {
		t.Errorf("#767676 on white: %.2f, want 4.54", got)
	}
}

// TestThemeContrast checks every foreground and background pair the
// theme and the app's own widgets use, in the light and the dark variant
// (the theme is always light, so that what a student sees matches the
// documentation; a dark variant added later is checked too).
func TestThemeContrast(t *testing.T) {
	th := Theme{}
	for _, v := range []fyne.ThemeVariant{theme.VariantLight, theme.VariantDark} {
		c := func(n fyne.ThemeColorName) color.Color { return th.Color(n, v) }
		bg, input, btn := c(theme.ColorNameBackground), c(theme.ColorNameInputBackground), c(theme.ColorNameButton)
		pairs := []struct {
			what     string
			fg, bg   color.Color
			minRatio float64
		}{
			// Text of widgets, on the window and on cards, entries and dialogs.
			{"text on the window", c(theme.ColorNameForeground), bg, aaText},
			{"text on a card or entry", c(theme.ColorNameForeground), input, aaText},
			{"text on a dialog", c(theme.ColorNameForeground), c(theme.ColorNameOverlayBackground), aaText},
			{"text on a button", c(theme.ColorNameForeground), btn, aaText},
			{"text on a focused button", c(theme.ColorNameForeground), over(c(theme.ColorNameFocus), btn), aaText},
			{"text on a hovered button", c(theme.ColorNameForeground), over(c(theme.ColorNameHover), btn), aaText},
			{"secondary text on the window", c(theme.ColorNameDisabled), bg, aaText},
			{"secondary text on a card", c(theme.ColorNameDisabled), input, aaText},
			{"disabled button text", c(theme.ColorNameDisabled), c(theme.ColorNameDisabledButton), aaText},
			{"placeholder", c(theme.ColorNamePlaceHolder), input, aaText},
			{"link on the window", c(theme.ColorNameHyperlink), bg, aaText},
			{"link on a card", c(theme.ColorNameHyperlink), input, aaText},
			{"primary button text", c(theme.ColorNameForegroundOnPrimary), c(theme.ColorNamePrimary), aaText},
			{"focused primary button text", c(theme.ColorNameForegroundOnPrimary), over(c(theme.ColorNameFocus), c(theme.ColorNamePrimary)), aaText},
			{"danger button text", c(theme.ColorNameForegroundOnError), c(theme.ColorNameError), aaText},
			{"success button text", c(theme.ColorNameForegroundOnSuccess), c(theme.ColorNameSuccess), aaText},
			{"warning button text", c(theme.ColorNameForegroundOnWarning), c(theme.ColorNameWarning), aaText},
			{"error text on a card", c(theme.ColorNameError), input, aaText},
			{"error text on the window", c(theme.ColorNameError), bg, aaText},
			{"success text on a card", c(theme.ColorNameSuccess), input, aaText},
			{"warning text on a card", c(theme.ColorNameWarning), input, aaText},
			{"selected text", c(theme.ColorNameForeground), over(c(theme.ColorNameSelection), input), aaText},
			// Controls: what shows where an entry is, and the focus.
			{"entry border", c(theme.ColorNameInputBorder), input, aaUI},
			{"focused entry border", c(theme.ColorNamePrimary), input, aaUI},
			{"focus ring on the window", colorFocusRing, bg, aaUI},
			{"focus ring on the button bar", colorFocusRing, colorSurface, aaUI},
			{"primary button on the button bar", c(theme.ColorNamePrimary), colorSurface, aaUI},
		}
		// The app's own colours (widgets.go): banners, the app bar, the
		// stepper, the camera preview's placeholder.
		for _, tn := range []tone{toneInfo, toneSuccess, toneWarning, toneError} {
			tbg, tfg := tn.colors()
			pairs = append(pairs,
				struct {
					what     string
					fg, bg   color.Color
					minRatio float64
				}{fmt.Sprintf("banner %d text", tn), colorText, tbg, aaText},
				struct {
					what     string
					fg, bg   color.Color
					minRatio float64
				}{fmt.Sprintf("banner %d icon and edge", tn), tfg, tbg, aaUI})
		}
		badge := over(color.NRGBA{R: 0xe0, G: 0x24, B: 0x24, A: 0x40}, colorAppBar)
		for _, p := range []struct {
			what     string
			fg, bg   color.Color
			minRatio float64
		}{
			{"app bar text", colorAppBarText, colorAppBar, aaText},
			{"app bar exam name", colorAppBarExam, colorAppBar, aaText},
			{"recording badge text", colorAppBarText, badge, aaText},
			{"recording badge outline", colorRecording, colorAppBar, aaUI},
			{"stepper: steps to come", colorMuted, bg, aaText},
			{"stepper: current step", colorPrimary, bg, aaText},
			{"stepper: done steps", colorText, bg, aaText},
			{"camera placeholder text", colorAppBarText, colorPreview, aaText},
		} {
			pairs = append(pairs, p)
		}
		for _, p := range pairs {
			if got := contrast(p.fg, p.bg); got < p.minRatio {
				t.Errorf("%s variant: %s: contrast %.2f:1, want at least %.1f:1", variantName(v), p.what, got, p.minRatio)
			}
		}
	}
}

func variantName(v fyne.ThemeVariant) string {
	if v == theme.VariantDark {
		return "dark"
	}
	return "light"
}
