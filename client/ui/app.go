package ui

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/lockdown"
)

// Actions is what the screens ask the flow to do; *client.Flow implements
// it. Every method returns at once (the flow queues the work).
type Actions interface {
	Join(server, code string)
	Retry()
	EnterCode()
	BackToNotice()
	Quit()
	CheckAgain()
	CloseApps()
	Continue()
	Agree()
	Decline()
	TakePhoto()
	Retake()
	UsePhoto()
	StartRoomScan()
	Reply(text string)
	AcknowledgeWarning()
	AnswerAsk(closeThem bool)
	RequestFinish()
	CancelFinish()
	ConfirmFinish()
	UploadLater()
	CloseRequested()
	FocusChanged(focused bool)
	ClipboardUsed(op lockdown.ClipboardOp)
}

var _ Actions = (*client.Flow)(nil)

// screen is one screen type. Each lives in its own file.
type screen interface {
	// object is the screen's root.
	object() fyne.CanvasObject
	// update renders a state of the screen's kind; it only changes what
	// differs, so that a state every half second costs little.
	update(s client.State)
	// controls are the buttons and entries on the screen (tests and the
	// test driver find them by their text).
	controls() []fyne.CanvasObject
}

// previewer is a screen that shows a camera: the one CameraFor names.
type previewer interface {
	setFrame(img image.Image)
}

// barScreen is a screen with status items in the app bar (the exam's
// clock, connection and upload). The items are its own objects, which its
// update keeps current: the bar takes them once, when the screen appears.
type barScreen interface {
	barItems() []fyne.CanvasObject
}

// App renders the flow's states into a window. Render and everything
// else on App run on the UI goroutine only; Run is the adapter that
// carries states there with fyne.Do.
type App struct {
	win  fyne.Window
	act  Actions
	bar  *appBar
	body *fyne.Container

	cur     screen
	state   client.State
	focused bool
	// fitted is whether the window has been sized to the screen (at the
	// first Render: only then does the window know its scale).
	fitted bool

	indicator *Indicator // indicator.go; nil without an app

	// rendered, if set, is called after each Render (the test driver).
	rendered func(client.State)
}

// New builds the app's content in win. It wires the window's close button
// and the exam window's focus to act.
func New(win fyne.Window, act Actions) *App {
	a := &App{win: win, act: act, bar: newAppBar(), body: container.NewStack(), focused: true}
	win.SetPadded(false)
	win.SetContent(container.New(barLayout{}, a.bar.root, a.body))
	win.SetCloseIntercept(act.CloseRequested)
	win.SetIcon(LogoPNG)
	win.Canvas().SetOnTypedKey(a.typedKey)
	// The size for a scale of 1, so that the window rarely changes size
	// when it appears; Render corrects it for the scale in use.
	win.Resize(fitSize(screenSize(), 1))
	if app := fyne.CurrentApp(); app != nil {
		lc := app.Lifecycle()
		lc.SetOnExitedForeground(func() { a.focusChanged(false) })
		lc.SetOnEnteredForeground(func() { a.focusChanged(true) })
		a.indicator = NewIndicator(app, win)
	}
	return a
}

func (a *App) focusChanged(focused bool) {
	if a.focused == focused {
		return
	}
	a.focused = focused
	a.act.FocusChanged(focused)
}

// State is the state last rendered.
func (a *App) State() client.State { return a.state }

// Render shows s. UI goroutine only.
func (a *App) Render(s client.State) {
	if !a.fitted {
		a.fitted = true
		a.fitWindow()
	}
	changed := a.cur == nil || a.state.Screen != s.Screen
	if changed {
		a.showScreen(s.Screen)
	}
	a.state = s
	a.cur.update(s)
	a.keepFocus(changed)
	// The exam name and the recording badge follow the state, not the
	// screen (recording starts on the ID photo screen, at consent).
	a.bar.set(s.ExamName, s.Recording)
	if a.indicator != nil {
		a.indicator.Update(s)
	}
	if a.rendered != nil {
		a.rendered(s)
	}
}

// showScreen replaces the current screen by a new one of kind k, with its
// status items in the app bar; the exam runs full screen, everything else
// in a normal window.
func (a *App) showScreen(k client.Screen) {
	// The focused button of the screen that goes must not take the next
	// Enter.
	a.win.Canvas().Unfocus()
	a.cur = a.newScreen(k)
	a.body.Objects = []fyne.CanvasObject{a.cur.object()}
	a.body.Refresh()
	a.bar.right.Objects = nil
	if b, ok := a.cur.(barScreen); ok {
		a.bar.right.Objects = b.barItems()
	}
	a.bar.right.Refresh()
	if full := k == client.ScreenExam; full != a.win.FullScreen() {
		a.win.SetFullScreen(full)
	}
}

func (a *App) newScreen(k client.Screen) screen {
	switch k {
	case client.ScreenJoin:
		return newJoinScreen(a.act)
	case client.ScreenBusy:
		return newBusyScreen()
	case client.ScreenCheck:
		return newCheckScreen(a.act)
	case client.ScreenConsent:
		return newConsentScreen(a.act)
	case client.ScreenIDPhoto:
		return newPhotoScreen(a.act)
	case client.ScreenRoomScan:
		return newRoomScanScreen(a.act)
	case client.ScreenExam:
		return newExamScreen(a.act, a.win)
	case client.ScreenFinishing:
		return newFinishingScreen(a.act)
	case client.ScreenReceipt:
		return newReceiptScreen(a.act, a.win)
	}
	return newErrorScreen(a.act)
}

// Controls are the current screen's buttons and entries.
func (a *App) Controls() []fyne.CanvasObject {
	if a.cur == nil {
		return nil
	}
	return a.cur.controls()
}

// Button finds an enabled, visible button of the current screen by its
// text; nil if there is none.
func (a *App) Button(text string) *Button {
	for _, c := range a.Controls() {
		if b, ok := c.(*Button); ok && b.Text == text && b.Visible() && !b.Disabled() {
			return b
		}
	}
	return nil
}

// Entry finds a visible entry of the current screen by its placeholder.
func (a *App) Entry(placeholder string) *widget.Entry {
	e, _ := a.findEntry(placeholder)
	return e
}

// TextInput is what receives typing and shortcuts.
type TextInput = interface {
	fyne.Focusable
	fyne.Shortcutable
}

// Input finds a visible text input of the current screen by its
// placeholder, as the object that receives typing and shortcuts (the exam's
// entries report copy and paste themselves); nil if there is none.
func (a *App) Input(placeholder string) TextInput {
	_, in := a.findEntry(placeholder)
	return in
}

// findEntry finds a visible entry of the current screen by its placeholder:
// the entry widget and the object that takes its input (the guarded entry
// itself for the exam's); nils if there is none.
func (a *App) findEntry(placeholder string) (*widget.Entry, TextInput) {
	for _, c := range a.Controls() {
		var e *widget.Entry
		var in TextInput
		switch w := c.(type) {
		case *widget.Entry:
			e, in = w, w
		case *guardedEntry:
			e, in = &w.Entry, w
		default:
			continue
		}
		if e.PlaceHolder == placeholder && e.Visible() {
			return e, in
		}
	}
	return nil, nil
}

// CameraFor is the camera the current screen shows in s, if any. Safe from
// any goroutine: it reads only s.
func CameraFor(s client.State) exam.Camera {
	switch {
	case s.Screen == client.ScreenCheck && s.Check != nil:
		return s.Check.Camera
	case s.Screen == client.ScreenIDPhoto && s.Photo != nil && s.Photo.Step == client.PhotoLive:
		return s.Photo.Camera
	case s.Screen == client.ScreenRoomScan && s.RoomScan != nil && s.RoomScan.Step != client.RoomScanUploading:
		return s.RoomScan.Camera
	}
	return nil
}

// ShowFrame puts a camera picture on the current screen if it still shows
// that camera. UI goroutine only.
func (a *App) ShowFrame(cam exam.Camera, img image.Image) {
	if p, ok := a.cur.(previewer); ok && cam != nil && CameraFor(a.state) == cam {
		p.setFrame(img)
	}
}

// previewInterval is how often the camera preview refreshes.
const previewInterval = 150 * time.Millisecond

// Run carries states and camera pictures to the UI goroutine until states
// closes (the flow ended: then it calls done on the UI goroutine) or ctx
// ends. It is the UI's adapter goroutine; the camera pictures are taken on
// a helper goroutine, one at a time, so that a slow camera (capture waits
// up to 2 s for a first frame) does not hold up the states.
func (a *App) Run(ctx context.Context, states <-chan client.State, done func()) {
	// Returning cancels the picture in flight, if any.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tick := time.NewTicker(previewInterval)
	defer tick.Stop()
	type picture struct {
		cam exam.Camera
		img image.Image
	}
	// At most one picture is in flight (busy), and the channel holds one:
	// its goroutine never blocks, even once Run has returned.
	pictures := make(chan picture, 1)
	busy := false
	var cam exam.Camera
	for {
		select {
		case <-ctx.Done():
			return
		case s, ok := <-states:
			if !ok {
				fyne.Do(done)
				return
			}
			cam = CameraFor(s)
			fyne.Do(func() { a.Render(s) })
		case <-tick.C:
			if cam == nil || busy {
				continue
			}
			busy = true
			go func(c exam.Camera) { pictures <- picture{c, Frame(ctx, c)} }(cam)
		case p := <-pictures:
			busy = false
			// ShowFrame drops it if the screen has moved on meanwhile.
			if p.img != nil {
				fyne.Do(func() { a.ShowFrame(p.cam, p.img) })
			}
		}
	}
}

// frameTimeout bounds a preview picture (capture waits for a camera's
// first frame); a variable for tests.
var frameTimeout = 2 * time.Second

// Frame takes one preview picture from cam (nil on failure).
func Frame(ctx context.Context, cam exam.Camera) image.Image {
	ctx, cancel := context.WithTimeout(ctx, frameTimeout)
	defer cancel()
	jpg, err := cam.Snapshot(ctx, 640)
	if err != nil {
		return nil
	}
	img, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		return nil
	}
	return img
}
