package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// Theme is Invigil's look: Fyne's light theme with calmer colours, larger
// text and more room, always light so that what a student sees matches the
// documentation's screenshots. Every pair of colours it uses meets WCAG
// AA contrast (theme_contrast_test.go). Its sizes are Fyne units, which
// the system's scale and FYNE_SCALE multiply.
type Theme struct{}

var _ fyne.Theme = Theme{}

// The palette.
var (
	colorBackground = color.NRGBA{R: 0xf3, G: 0xf5, B: 0xf9, A: 0xff}
	colorSurface    = color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}
	colorBorder     = color.NRGBA{R: 0xdd, G: 0xe2, B: 0xea, A: 0xff}
	// colorInputBorder outlines entries: 3:1 against them (WCAG's
	// contrast for the parts of a control), unlike the card borders.
	colorInputBorder = color.NRGBA{R: 0x7d, G: 0x87, B: 0x97, A: 0xff}
	colorText        = color.NRGBA{R: 0x1b, G: 0x23, B: 0x32, A: 0xff}
	colorMuted       = color.NRGBA{R: 0x58, G: 0x62, B: 0x71, A: 0xff}
	colorPrimary     = color.NRGBA{R: 0x22, G: 0x56, B: 0xd6, A: 0xff}
	colorSuccess     = color.NRGBA{R: 0x14, G: 0x80, B: 0x3d, A: 0xff}
	colorWarning     = color.NRGBA{R: 0xb4, G: 0x53, B: 0x09, A: 0xff}
	colorError       = color.NRGBA{R: 0xc8, G: 0x1e, B: 0x1e, A: 0xff}
	colorRecording   = color.NRGBA{R: 0xe0, G: 0x24, B: 0x24, A: 0xff}
	colorAppBar      = color.NRGBA{R: 0x15, G: 0x1e, B: 0x33, A: 0xff}
	colorAppBarText  = color.NRGBA{R: 0xf1, G: 0xf4, B: 0xfa, A: 0xff}
	colorAppBarExam  = color.NRGBA{R: 0xb8, G: 0xc2, B: 0xd6, A: 0xff}
	colorPreview     = color.NRGBA{R: 0x1d, G: 0x24, B: 0x33, A: 0xff}
	colorScrim       = color.NRGBA{R: 0x0f, G: 0x17, B: 0x2a, A: 0xb0}
	colorSuccessBg   = color.NRGBA{R: 0xe8, G: 0xf6, B: 0xed, A: 0xff}
	colorWarningBg   = color.NRGBA{R: 0xfd, G: 0xf3, B: 0xe3, A: 0xff}
	colorErrorBg     = color.NRGBA{R: 0xfd, G: 0xec, B: 0xec, A: 0xff}
	colorInfoBg      = color.NRGBA{R: 0xea, G: 0xf0, B: 0xfd, A: 0xff}
	// colorFocusRing outlines the widget with the keyboard focus.
	colorFocusRing = colorPrimary
	// colorFocusTint is laid over a focused button's own colour (Fyne's
	// "focus" colour): a tint, so the text on it stays readable; the ring
	// is what shows the focus.
	colorFocusTint = color.NRGBA{R: 0x22, G: 0x56, B: 0xd6, A: 0x30}
)

// Color implements fyne.Theme.
func (Theme) Color(n fyne.ThemeColorName, _ fyne.ThemeVariant) color.Color {
	switch n {
	case theme.ColorNameBackground:
		return colorBackground
	case theme.ColorNameForeground:
		return colorText
	case theme.ColorNameDisabled, theme.ColorNamePlaceHolder:
		return colorMuted
	case theme.ColorNamePrimary, theme.ColorNameHyperlink:
		return colorPrimary
	case theme.ColorNameFocus:
		return colorFocusTint
	case theme.ColorNameSuccess:
		return colorSuccess
	case theme.ColorNameWarning:
		return colorWarning
	case theme.ColorNameError:
		return colorError
	case theme.ColorNameInputBackground, theme.ColorNameMenuBackground, theme.ColorNameOverlayBackground:
		return colorSurface
	case theme.ColorNameInputBorder:
		return colorInputBorder
	case theme.ColorNameSeparator:
		return colorBorder
	case theme.ColorNameButton:
		return color.NRGBA{R: 0xe6, G: 0xea, B: 0xf1, A: 0xff}
	case theme.ColorNameDisabledButton:
		return color.NRGBA{R: 0xe4, G: 0xe7, B: 0xec, A: 0xff}
	case theme.ColorNameSelection:
		return color.NRGBA{R: 0x22, G: 0x56, B: 0xd6, A: 0x40}
	}
	return theme.DefaultTheme().Color(n, theme.VariantLight)
}

// Font implements fyne.Theme.
func (Theme) Font(s fyne.TextStyle) fyne.Resource { return theme.DefaultTheme().Font(s) }

// Icon implements fyne.Theme.
func (Theme) Icon(n fyne.ThemeIconName) fyne.Resource { return theme.DefaultTheme().Icon(n) }

// Size implements fyne.Theme.
func (Theme) Size(n fyne.ThemeSizeName) float32 {
	switch n {
	case theme.SizeNameText:
		return 15
	case theme.SizeNameHeadingText:
		return 27
	case theme.SizeNameSubHeadingText:
		return 19
	case theme.SizeNameCaptionText:
		return 13
	case theme.SizeNamePadding:
		return 6
	case theme.SizeNameInnerPadding:
		return 10
	case theme.SizeNameInlineIcon:
		return 22
	case theme.SizeNameInputRadius, theme.SizeNameSelectionRadius:
		return 6
	}
	return theme.DefaultTheme().Size(n)
}
