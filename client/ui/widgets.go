package ui

import (
	"fmt"
	"image"
	"image/color"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/lockdown"
)

// columnWidth is the width of a screen's content column: lines of text
// stay readable on a wide window.
const columnWidth = 820

// column centres its one object and caps its width.
type column struct{ max float32 }

func (c column) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	w := min(size.Width, c.max)
	for _, o := range objs {
		o.Resize(fyne.NewSize(w, size.Height))
		o.Move(fyne.NewPos((size.Width-w)/2, 0))
	}
}

func (c column) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var s fyne.Size
	for _, o := range objs {
		m := o.MinSize()
		s = s.Max(fyne.NewSize(min(m.Width, c.max), m.Height))
	}
	return s
}

// barLayout puts its first object at the top at its minimum height and
// gives the rest of the space to the second, with no gap (a Border leaves
// a padding-wide strip that overlays would not cover).
type barLayout struct{}

func (barLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	h := objs[0].MinSize().Height
	objs[0].Resize(fyne.NewSize(size.Width, h))
	objs[0].Move(fyne.NewPos(0, 0))
	objs[1].Resize(fyne.NewSize(size.Width, size.Height-h))
	objs[1].Move(fyne.NewPos(0, h))
}

func (barLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	a, b := objs[0].MinSize(), objs[1].MinSize()
	return fyne.NewSize(max(a.Width, b.Width), a.Height+b.Height)
}

// fixedSize gives its objects a fixed minimum size.
type fixedSize struct{ size fyne.Size }

func (f fixedSize) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Resize(size)
		o.Move(fyne.NewPos(0, 0))
	}
}

func (f fixedSize) MinSize([]fyne.CanvasObject) fyne.Size { return f.size }

// heading is a screen's title.
func heading(text string) *widget.Label { return boldLabel(text, theme.SizeNameHeadingText) }

// subheading is a section title.
func subheading(text string) *widget.Label { return boldLabel(text, theme.SizeNameSubHeadingText) }

func boldLabel(text string, size fyne.ThemeSizeName) *widget.Label {
	l := body(text)
	l.SizeName = size
	l.TextStyle.Bold = true
	return l
}

// body is wrapped text.
func body(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	return l
}

// muted is secondary text.
func muted(text string) *widget.Label {
	l := body(text)
	l.Importance = widget.LowImportance
	l.SizeName = theme.SizeNameCaptionText
	return l
}

// steps is a numbered list of instructions under a subheading.
func steps(title string, lines ...string) *fyne.Container {
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d.  %s", i+1, l)
	}
	return container.NewVBox(subheading(title), body(b.String()))
}

// tight stacks objects with less space between them than a VBox (labels
// carry their own padding).
func tight(objs ...fyne.CanvasObject) *fyne.Container {
	return container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()*2), objs...)
}

// surface is a white card with a border around content.
func surface(content fyne.CanvasObject) *fyne.Container {
	bg := canvas.NewRectangle(colorSurface)
	bg.CornerRadius = 10
	bg.StrokeColor = colorBorder
	bg.StrokeWidth = 1
	return container.NewStack(bg, container.New(layout.NewCustomPaddedLayout(14, 14, 18, 18), content))
}

// previewCard is a surface with a camera preview on the left and side, the
// words that go with it, on the right.
func previewCard(p *preview, side fyne.CanvasObject) *fyne.Container {
	return surface(container.NewBorder(nil, nil, p.root, nil, container.New(layout.NewCustomPaddedLayout(0, 0, 18, 0), side)))
}

// tone is the colour family of a banner or status.
type tone int

const (
	toneInfo tone = iota
	toneSuccess
	toneWarning
	toneError
)

func (t tone) colors() (bg, fg color.Color) {
	switch t {
	case toneSuccess:
		return colorSuccessBg, colorSuccess
	case toneWarning:
		return colorWarningBg, colorWarning
	case toneError:
		return colorErrorBg, colorError
	}
	return colorInfoBg, colorPrimary
}

func (t tone) icon() fyne.Resource {
	switch t {
	case toneSuccess:
		return theme.NewSuccessThemedResource(theme.ConfirmIcon())
	case toneWarning:
		return theme.NewWarningThemedResource(theme.WarningIcon())
	case toneError:
		return theme.NewErrorThemedResource(theme.ErrorIcon())
	}
	return theme.NewPrimaryThemedResource(theme.InfoIcon())
}

// banner is a coloured box with an icon and a message; empty text hides it.
type banner struct {
	root  *fyne.Container
	bg    *canvas.Rectangle
	edge  *canvas.Rectangle
	icon  *widget.Icon
	label *widget.Label // its Text is the message last shown
	tone  tone          // the colours and icon shown
}

func newBanner() *banner {
	bg, fg := toneInfo.colors()
	b := &banner{bg: canvas.NewRectangle(bg), edge: canvas.NewRectangle(fg), icon: widget.NewIcon(toneInfo.icon()), label: body(""), tone: toneInfo}
	b.bg.CornerRadius = 8
	edge := container.New(fixedSize{fyne.NewSize(4, 4)}, b.edge)
	row := container.NewBorder(nil, nil, container.NewHBox(edge, container.NewCenter(b.icon)), nil, b.label)
	b.root = container.NewStack(b.bg, container.New(layout.NewCustomPaddedLayout(6, 6, 4, 10), row))
	b.root.Hide()
	return b
}

// set shows text in tone's colours. Screens call it on every state (twice
// a second): it changes only what differs, as a wrapped label re-lays out
// on every SetText.
func (b *banner) set(t tone, text string) {
	if text == "" {
		setVisible(b.root, false)
		return
	}
	if t != b.tone {
		b.tone = t
		bg, fg := t.colors()
		b.bg.FillColor, b.edge.FillColor = bg, fg
		b.icon.SetResource(t.icon())
		b.bg.Refresh()
		b.edge.Refresh()
	}
	setText(b.label, text)
	setVisible(b.root, true)
}

func statusTone(s lockdown.Status) tone {
	switch s {
	case lockdown.StatusPass:
		return toneSuccess
	case lockdown.StatusWarn:
		return toneWarning
	case lockdown.StatusFail:
		return toneError
	}
	return toneInfo
}

func statusIcon(s lockdown.Status) fyne.Resource {
	switch s {
	case lockdown.StatusPass:
		return theme.NewSuccessThemedResource(theme.ConfirmIcon())
	case lockdown.StatusWarn:
		return theme.NewWarningThemedResource(theme.WarningIcon())
	case lockdown.StatusFail:
		return theme.NewErrorThemedResource(theme.CancelIcon())
	}
	return theme.NewColoredResource(theme.QuestionIcon(), theme.ColorNameDisabled)
}

// recIndicator is the red "Recording" badge, shown whenever capture runs.
type recIndicator struct {
	root *fyne.Container
}

func newRecIndicator() *recIndicator {
	dot := canvas.NewCircle(colorRecording)
	dotBox := container.New(fixedSize{fyne.NewSize(12, 12)}, dot)
	text := canvas.NewText("Recording", colorAppBarText)
	text.TextStyle.Bold = true
	text.TextSize = theme.CaptionTextSize() + 1
	bg := canvas.NewRectangle(color.NRGBA{R: 0xe0, G: 0x24, B: 0x24, A: 0x40})
	bg.CornerRadius = 13
	bg.StrokeColor = colorRecording
	bg.StrokeWidth = 1.5
	row := container.NewHBox(container.NewCenter(dotBox), text)
	r := &recIndicator{root: container.NewStack(bg, container.New(layout.NewCustomPaddedLayout(2, 2, 10, 12), row))}
	r.root.Hide()
	return r
}

// appBar is the dark bar at the top of every screen: the product, the
// exam, and the recording indicator.
type appBar struct {
	root *fyne.Container
	exam *canvas.Text
	rec  *recIndicator
	// right holds screen-specific status (the exam screen's clock).
	right *fyne.Container
}

func newAppBar() *appBar {
	bg := canvas.NewRectangle(colorAppBar)
	logo := canvas.NewImageFromResource(Logo)
	logo.FillMode = canvas.ImageFillContain
	logoBox := container.New(fixedSize{fyne.NewSize(28, 28)}, logo)
	name := canvas.NewText("Invigil", colorAppBarText)
	name.TextStyle.Bold = true
	name.TextSize = theme.Size(theme.SizeNameSubHeadingText) - 1
	exam := canvas.NewText("", colorAppBarExam)
	exam.TextSize = theme.TextSize()
	b := &appBar{exam: exam, rec: newRecIndicator(), right: container.NewHBox()}
	left := container.NewHBox(container.NewCenter(logoBox), container.NewCenter(name), container.NewCenter(exam))
	right := container.NewHBox(b.right, container.NewCenter(b.rec.root))
	b.root = container.NewStack(bg, container.New(layout.NewCustomPaddedLayout(8, 8, 16, 16),
		container.NewBorder(nil, nil, left, right)))
	return b
}

func (b *appBar) set(examName string, recording bool) {
	if examName != "" {
		examName = "·  " + examName
	}
	if b.exam.Text != examName {
		b.exam.Text = examName
		b.exam.Refresh()
	}
	setVisible(b.rec.root, recording)
}

// stepNames are the steps of the journey the stepper shows.
var stepNames = []string{"Join", "Check", "Consent", "ID photo", "Room scan", "Exam", "Finish"}

// stepper shows where the student is in the journey.
type stepper struct {
	root  *fyne.Container
	steps []*canvas.Text
	dots  []*canvas.Circle
}

func newStepper(current int) *stepper {
	s := &stepper{root: container.NewHBox()}
	for i, n := range stepNames {
		dot := canvas.NewCircle(colorBorder)
		txt := canvas.NewText(n, colorMuted)
		txt.TextSize = theme.CaptionTextSize()
		s.dots, s.steps = append(s.dots, dot), append(s.steps, txt)
		item := container.NewHBox(container.NewCenter(container.New(fixedSize{fyne.NewSize(10, 10)}, dot)), txt)
		if i > 0 {
			line := canvas.NewRectangle(colorBorder)
			s.root.Add(container.NewCenter(container.New(fixedSize{fyne.NewSize(18, 2)}, line)))
		}
		s.root.Add(item)
	}
	s.set(current)
	return s
}

func (s *stepper) set(current int) {
	for i := range s.steps {
		switch {
		case i < current:
			s.dots[i].FillColor, s.steps[i].Color, s.steps[i].TextStyle.Bold = colorSuccess, colorText, false
		case i == current:
			s.dots[i].FillColor, s.steps[i].Color, s.steps[i].TextStyle.Bold = colorPrimary, colorPrimary, true
		default:
			s.dots[i].FillColor, s.steps[i].Color, s.steps[i].TextStyle.Bold = colorBorder, colorMuted, false
		}
		s.dots[i].Refresh()
		s.steps[i].Refresh()
	}
}

// page is the frame of a step screen: the stepper, a title and a lead
// line and the content, which scroll, and under them a bar that is always
// visible with the buttons at the right and, at the left, a note that says
// why a button is off.
type page struct {
	root    *fyne.Container
	icon    *widget.Icon
	iconBox *fyne.Container
	title   *widget.Label
	scroll  *container.Scroll
	note    *widget.Label
}

func newPage(step int, title, lead string, content fyne.CanvasObject, actions ...fyne.CanvasObject) *page {
	p := &page{icon: widget.NewIcon(nil), title: heading(title), note: body("")}
	p.note.Importance = widget.DangerImportance
	p.note.Hide()
	p.iconBox = container.New(layout.NewCustomPaddedLayout(0, 0, 0, 6), container.NewCenter(container.New(fixedSize{fyne.NewSize(40, 40)}, p.icon)))
	p.iconBox.Hide()
	leadLabel := body(lead)
	if lead == "" {
		leadLabel.Hide()
	}
	var top fyne.CanvasObject = layout.NewSpacer()
	if step >= 0 {
		top = container.NewCenter(newStepper(step).root)
	}
	titleRow := container.NewBorder(nil, nil, p.iconBox, nil, p.title)
	col := container.NewVBox(top, container.New(layout.NewCustomPaddedLayout(10, 0, 0, 0), titleRow), leadLabel, content)
	p.scroll = container.NewVScroll(container.New(layout.NewCustomPaddedLayout(12, 24, 24, 24), container.New(column{columnWidth}, col)))
	p.root = container.NewBorder(nil, actionBar(p.note, container.NewHBox(actions...)), nil, nil, p.scroll)
	return p
}

// actionBar is the bar at the bottom of a screen, under its scrolling
// content, so that its buttons are always visible: the buttons at the
// right, a note (may be nil) at the left.
func actionBar(note, buttons fyne.CanvasObject) fyne.CanvasObject {
	sep := canvas.NewRectangle(colorBorder)
	barBg := canvas.NewRectangle(colorSurface)
	bar := container.NewStack(barBg, container.New(layout.NewCustomPaddedLayout(10, 10, 24, 24),
		container.NewBorder(nil, nil, nil, buttons, note)))
	return container.NewVBox(container.New(fixedSize{fyne.NewSize(1, 1)}, sep), bar)
}

// setNote shows text next to the buttons (empty: nothing).
func (p *page) setNote(text string) {
	setText(p.note, text)
	setVisible(p.note, text != "")
}

// reveal scrolls the page so that o, an object of its content, is in
// view: its top at the top of the view if it was above or below it.
func (p *page) reveal(o fyne.CanvasObject) {
	app := fyne.CurrentApp()
	if app == nil || !o.Visible() {
		return
	}
	// Lay the content out at its current size first: a screen reveals
	// what it has just added.
	p.scroll.Refresh()
	d := app.Driver()
	top := d.AbsolutePositionForObject(o).Y - d.AbsolutePositionForObject(p.scroll.Content).Y
	view := p.scroll.Size().Height
	if top >= p.scroll.Offset.Y && top+o.Size().Height <= p.scroll.Offset.Y+view {
		return
	}
	const margin = 8
	y := min(max(top-margin, 0), max(p.scroll.Content.Size().Height-view, 0))
	p.scroll.ScrollToOffset(fyne.NewPos(p.scroll.Offset.X, y))
}

// button makes a button; primary ones are filled with the primary colour.
func button(label string, primary bool, tapped func()) *Button {
	return iconButton(label, nil, primary, tapped)
}

// iconButton is a button with an icon (none if icon is nil).
func iconButton(label string, icon fyne.Resource, primary bool, tapped func()) *Button {
	b := &Button{}
	b.Text, b.Icon, b.OnTapped = label, icon, tapped
	if primary {
		b.Importance = widget.HighImportance
	}
	b.ExtendBaseWidget(b)
	return b
}

// Button is the app's button: a widget.Button that also works from the
// keyboard. Tab reaches it (Fyne's focus order), Enter, Return and Space
// press it, a ring around it shows the focus, and the keys a button does
// not use (Escape, the scrolling keys) go on to the window's key handler
// (App.typedKey), as they would if nothing had the focus.
type Button struct {
	widget.Button
	focused bool
}

var _ fyne.Focusable = (*Button)(nil)

// FocusGained implements fyne.Focusable.
func (b *Button) FocusGained() {
	b.focused = true
	b.Button.FocusGained()
}

// FocusLost implements fyne.Focusable.
func (b *Button) FocusLost() {
	b.focused = false
	b.Button.FocusLost()
}

// HasFocus is whether the button has the keyboard focus (tests).
func (b *Button) HasFocus() bool { return b.focused }

// TypedKey implements fyne.Focusable.
func (b *Button) TypedKey(ev *fyne.KeyEvent) {
	switch ev.Name {
	case fyne.KeyReturn, fyne.KeyEnter, fyne.KeySpace:
		// widget.Button drops the focus on a tap (it expects the mouse);
		// from the keyboard the focus stays, where the screen does.
		b.Tapped(&fyne.PointEvent{})
		if app := fyne.CurrentApp(); app != nil && b.Visible() {
			if c := app.Driver().CanvasForObject(b); c != nil {
				c.Focus(b)
			}
		}
	default:
		forwardKey(b, ev)
	}
}

// forwardKey hands a key that a focused widget does not use to the
// window's own key handler.
func forwardKey(o fyne.CanvasObject, ev *fyne.KeyEvent) {
	app := fyne.CurrentApp()
	if app == nil {
		return
	}
	if c := app.Driver().CanvasForObject(o); c != nil && c.OnTypedKey() != nil {
		c.OnTypedKey()(ev)
	}
}

// focusRingWidth is the width of the focus ring and of the gap between it
// and the button.
const focusRingWidth = 2

// CreateRenderer implements fyne.Widget: widget.Button's renderer with the
// focus ring around it.
func (b *Button) CreateRenderer() fyne.WidgetRenderer {
	b.ExtendBaseWidget(b)
	ring := canvas.NewRectangle(color.Transparent)
	ring.StrokeColor = colorFocusRing
	ring.StrokeWidth = focusRingWidth
	ring.CornerRadius = theme.Size(theme.SizeNameInputRadius) + 2*focusRingWidth
	ring.Hide()
	inner := b.Button.CreateRenderer()
	return &buttonRenderer{WidgetRenderer: inner, b: b, ring: ring, objs: append(slices.Clone(inner.Objects()), ring)}
}

type buttonRenderer struct {
	fyne.WidgetRenderer
	b    *Button
	ring *canvas.Rectangle
	objs []fyne.CanvasObject
}

func (r *buttonRenderer) Objects() []fyne.CanvasObject {
	// widget.Button's renderer adds its icon after the fact: keep the
	// ring last, over the rest.
	inner := r.WidgetRenderer.Objects()
	if len(inner)+1 != len(r.objs) {
		r.objs = append(slices.Clone(inner), r.ring)
	}
	return r.objs
}

func (r *buttonRenderer) Layout(size fyne.Size) {
	r.WidgetRenderer.Layout(size)
	out := float32(2 * focusRingWidth)
	r.ring.Move(fyne.NewPos(-out, -out))
	r.ring.Resize(size.AddWidthHeight(2*out, 2*out))
}

func (r *buttonRenderer) Refresh() {
	r.WidgetRenderer.Refresh()
	setVisible(r.ring, r.b.focused && !r.b.Disabled())
	r.ring.Refresh()
}

// setEnabled enables or disables a button.
func setEnabled(b *Button, on bool) {
	if on && b.Disabled() {
		b.Enable()
	} else if !on && !b.Disabled() {
		b.Disable()
	}
}

func setVisible(o fyne.CanvasObject, on bool) {
	if on && !o.Visible() {
		o.Show()
	} else if !on && o.Visible() {
		o.Hide()
	}
}

func setText(l *widget.Label, s string) {
	if l.Text != s {
		l.SetText(s)
	}
}

// preview shows a camera's live picture.
type preview struct {
	root *fyne.Container
	img  *canvas.Image
	note *canvas.Text
}

func newPreview(w, h float32) *preview {
	bg := canvas.NewRectangle(colorPreview)
	bg.CornerRadius = 10
	p := &preview{img: canvas.NewImageFromImage(nil), note: canvas.NewText("Starting the camera…", colorAppBarText)}
	p.img.FillMode = canvas.ImageFillContain
	p.img.ScaleMode = canvas.ImageScaleFastest
	p.note.TextSize = theme.CaptionTextSize() + 1
	p.root = container.New(fixedSize{fyne.NewSize(w, h)}, container.NewStack(bg, container.NewCenter(p.note), p.img))
	return p
}

// show sets the picture (nil: the placeholder).
func (p *preview) show(img image.Image) {
	if img == nil {
		p.img.Image = nil
		p.img.Refresh()
		p.note.Show()
		return
	}
	p.img.Image = img
	p.note.Hide()
	p.img.Refresh()
}

// reset clears the picture to the placeholder with text.
func (p *preview) reset(text string) {
	p.note.Text = text
	p.note.Refresh()
	p.show(nil)
}

// setIcon shows an icon before the page's title.
func (p *page) setIcon(r fyne.Resource) {
	p.icon.SetResource(r)
	p.iconBox.Show()
}
