package ui

import (
	"fmt"
	"image/color"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/lockdown"
)

// IndicatorTitle is the indicator window's title (tests find the window
// by it).
const IndicatorTitle = "Invigil indicator"

// Indicator is the small always-on-top window that shows while the student
// works in the exam browser or an allowed program (ExamState.Away): the
// recording state, the time elapsed, the connection and unread proctor
// messages. Clicking it brings Invigil's window forward. Fyne has no
// always-on-top: lockdown.AboveKeeper does it natively (X11
// _NET_WM_STATE_ABOVE plus a raise every second, Windows HWND_TOPMOST).
// The indicator is one of Invigil's own windows, so focus on it is never a
// focus loss. Update runs on the UI goroutine only.
type Indicator struct {
	app    fyne.App
	main   fyne.Window
	keeper *lockdown.AboveKeeper

	win    fyne.Window // made when first needed
	body   *indicatorBody
	shown  bool
	native uint64    // the window's X11 id or HWND, once known
	kept   time.Time // the last AboveKeeper.Keep
	seen   int       // proctor messages seen while the exam window had the focus
	err    error     // the last failure to keep it on top

	beforeShow func()
}

// SetBeforeShow sets what runs on the UI goroutine right before the
// indicator's window is shown. The app uses it to turn GLFW's
// focus-on-show off: by default a window that shows takes the focus (on
// X11 without a window manager GLFW calls XSetInputFocus), which would
// take it from the program the student works in, and this package cannot
// reach GLFW (its tests run without cgo).
func (in *Indicator) SetBeforeShow(fn func()) { in.beforeShow = fn }

// keepEvery is how often the indicator is put back on top: without a
// window manager nothing else keeps it there.
const keepEvery = time.Second

// NewIndicator makes the indicator of main; it shows when a state says
// so. App's New makes one.
func NewIndicator(app fyne.App, main fyne.Window) *Indicator {
	return &Indicator{app: app, main: main, keeper: lockdown.NewAboveKeeper(nil)}
}

// Indicator is the app's always-on-top indicator (nil without an app).
func (a *App) Indicator() *Indicator { return a.indicator }

// Shown reports whether the indicator window shows.
func (in *Indicator) Shown() bool { return in.shown }

// Err is the last failure to keep the indicator on top, if any.
func (in *Indicator) Err() error { return in.err }

// Update shows, refreshes or hides the indicator for s.
func (in *Indicator) Update(s client.State) {
	e := s.Exam
	if e == nil || s.Screen != client.ScreenExam {
		in.hide()
		return
	}
	if e.Away.Program == "" {
		in.seen = proctorMessages(e)
		in.hide()
		return
	}
	if in.win == nil {
		in.make()
	}
	in.body.set(s, proctorMessages(e)-in.seen)
	if !in.shown {
		if in.beforeShow != nil {
			in.beforeShow()
		}
		in.win.Show()
		in.shown, in.native, in.kept = true, 0, time.Time{}
	}
	in.keepOnTop()
}

// Close closes the indicator window and the keeper's connection.
func (in *Indicator) Close() {
	if in.win != nil {
		in.win.Close()
		in.win, in.shown = nil, false
	}
	in.keeper.Close()
}

// Tap is a click on the indicator: Invigil's window comes forward.
func (in *Indicator) Tap() {
	in.main.Show()
	in.main.RequestFocus()
}

func (in *Indicator) make() {
	if drv, ok := in.app.Driver().(desktop.Driver); ok {
		in.win = drv.CreateSplashWindow() // no border, no title bar
	} else {
		in.win = in.app.NewWindow(IndicatorTitle)
	}
	in.win.SetTitle(IndicatorTitle)
	in.body = newIndicatorBody(in.Tap)
	in.win.SetContent(in.body)
	in.win.Resize(fyne.NewSize(340, 56))
	in.win.SetFixedSize(true)
}

func (in *Indicator) hide() {
	if in.shown {
		in.win.Hide()
		in.shown = false
	}
}

func (in *Indicator) keepOnTop() {
	if time.Since(in.kept) < keepEvery {
		return
	}
	if in.native == 0 {
		if nw, ok := in.win.(driver.NativeWindow); ok {
			nw.RunNative(func(ctx any) {
				switch c := ctx.(type) {
				case driver.X11WindowContext:
					in.native = uint64(c.WindowHandle)
				case driver.WindowsWindowContext:
					in.native = uint64(c.HWND)
				}
			})
		}
		if in.native == 0 {
			return // not created yet: the next state tries again
		}
	}
	in.kept = time.Now()
	in.err = in.keeper.Keep(in.native)
}

func proctorMessages(e *client.ExamState) (n int) {
	for _, m := range e.Messages {
		if m.FromProctor {
			n++
		}
	}
	return n
}

// indicatorBody is the indicator's content, light text on a dark pill
// that stands out over any window; a tap anywhere on it is a click on the
// indicator.
type indicatorBody struct {
	widget.BaseWidget
	bg     *canvas.Rectangle
	dot    *canvas.Circle
	status *canvas.Text
	detail *canvas.Text
	onTap  func()
}

var (
	indicatorRec  = color.NRGBA{R: 0xf0, G: 0x3e, B: 0x3e, A: 0xff}
	indicatorIdle = color.NRGBA{R: 0x9a, G: 0xa0, B: 0xaa, A: 0xff}
	indicatorBg   = color.NRGBA{R: 0x14, G: 0x1c, B: 0x2e, A: 0xff} // white text on it: contrast 16:1
	indicatorText = color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}
	indicatorSub  = color.NRGBA{R: 0xd5, G: 0xda, B: 0xe3, A: 0xff} // contrast 12:1
)

func newIndicatorBody(onTap func()) *indicatorBody {
	b := &indicatorBody{bg: canvas.NewRectangle(indicatorBg), dot: canvas.NewCircle(indicatorRec),
		status: canvas.NewText("", indicatorText), detail: canvas.NewText("", indicatorSub), onTap: onTap}
	b.status.TextStyle.Bold = true
	b.status.TextSize, b.detail.TextSize = 15, 13
	b.bg.StrokeColor, b.bg.StrokeWidth = indicatorRec, 2
	b.ExtendBaseWidget(b)
	return b
}

// CreateRenderer implements fyne.Widget.
func (b *indicatorBody) CreateRenderer() fyne.WidgetRenderer {
	dot := container.NewGridWrap(fyne.NewSize(12, 12), b.dot)
	text := container.New(layout.NewCustomPaddedVBoxLayout(4), b.status, b.detail)
	row := container.NewBorder(nil, nil, container.NewCenter(dot), nil, text)
	return widget.NewSimpleRenderer(container.NewStack(b.bg, container.New(layout.NewCustomPaddedLayout(10, 10, 14, 16), row)))
}

// Tapped implements fyne.Tappable.
func (b *indicatorBody) Tapped(*fyne.PointEvent) {
	if b.onTap != nil {
		b.onTap()
	}
}

// Cursor implements desktop.Cursorable.
func (b *indicatorBody) Cursor() desktop.Cursor { return desktop.PointerCursor }

// set shows s with unread proctor messages.
func (b *indicatorBody) set(s client.State, unread int) {
	e := s.Exam
	rec, dot := "Recording", color.Color(indicatorRec)
	switch {
	case !s.Recording:
		rec, dot = "Not recording", indicatorIdle
	case e.Paused:
		rec = "Paused by your proctor"
	}
	conn := "online"
	if !e.Connected {
		conn = "offline, recording kept"
	}
	b.status.Text = fmt.Sprintf("%s · %s · %s", rec, indicatorClock(s.Now.Sub(e.Started)), conn)
	b.status.Refresh()
	detail := "Click to return to Invigil"
	switch {
	case e.Warning != nil:
		detail = "A warning from your proctor: click to read"
	case unread == 1:
		detail = "1 new message from your proctor: click to read"
	case unread > 1:
		detail = fmt.Sprintf("%d new messages from your proctor: click to read", unread)
	}
	b.detail.Text = detail
	b.detail.Refresh()
	if b.dot.FillColor != dot {
		b.dot.FillColor, b.bg.StrokeColor = dot, dot
		b.dot.Refresh()
		b.bg.Refresh()
	}
}

// indicatorClock formats an elapsed time as h:mm:ss.
func indicatorClock(d time.Duration) string {
	d = max(d, 0).Truncate(time.Second)
	return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}
