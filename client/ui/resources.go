package ui

import (
	"fyne.io/fyne/v2"

	"github.com/invigil/invigil/assets"
)

// Logo is the application icon as a Fyne resource.
var Logo = fyne.NewStaticResource("invigil.svg", assets.Icon)

// LogoPNG is the application icon as a PNG resource (window icons).
var LogoPNG = fyne.NewStaticResource("invigil.png", assets.IconPNG)
