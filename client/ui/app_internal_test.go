package ui

import (
	"context"
	"image"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"

	"github.com/invigil/invigil/client"
)

// noActions is an Actions whose methods are never called by these tests
// (calling one panics).
type noActions struct{ Actions }

func newTestApp(t *testing.T) (*App, fyne.Window) {
	t.Helper()
	test.NewTempApp(t).Settings().SetTheme(Theme{})
	w := test.NewTempWindow(t, nil)
	w.Resize(fyne.NewSize(1100, 780))
	return New(w, noActions{}), w
}

// TestBannerUnchanged: a banner set again to what it shows changes
// nothing (screens set theirs on every state); a new tone or text does.
func TestBannerUnchanged(t *testing.T) {
	test.NewTempApp(t)
	b := newBanner()
	b.set(toneError, "Disk full")
	icon := b.icon.Resource
	if !b.root.Visible() || b.label.Text != "Disk full" || b.bg.FillColor != colorErrorBg {
		t.Fatalf("banner: visible %v, text %q", b.root.Visible(), b.label.Text)
	}
	b.set(toneError, "Disk full")
	if b.icon.Resource != icon {
		t.Fatal("the same tone made a new icon")
	}
	b.set(toneError, "Disk still full")
	if b.icon.Resource != icon || b.label.Text != "Disk still full" {
		t.Fatalf("new text: %q", b.label.Text)
	}
	b.set(toneWarning, "")
	if b.root.Visible() {
		t.Fatal("empty text does not hide the banner")
	}
	b.set(toneWarning, "Slow network")
	if !b.root.Visible() || b.icon.Resource == icon || b.bg.FillColor != colorWarningBg || b.label.Text != "Slow network" {
		t.Fatalf("new tone: visible %v, text %q", b.root.Visible(), b.label.Text)
	}
}

// TestBarFollowsState: the exam's status items go into the app bar once,
// when the exam screen appears, and leave with it; the recording badge
// follows every state; the exam alone runs full screen.
func TestBarFollowsState(t *testing.T) {
	a, w := newTestApp(t)
	now := time.Now()
	exam := client.State{Screen: client.ScreenExam, Now: now, ExamName: "Physics midterm",
		Exam: &client.ExamState{Started: now.Add(-time.Minute), Connected: true}}
	a.Render(exam)
	items := a.bar.right.Objects
	if len(items) != 3 || !w.FullScreen() || a.bar.rec.root.Visible() {
		t.Fatalf("exam: %d bar items, full screen %v, recording badge %v", len(items), w.FullScreen(), a.bar.rec.root.Visible())
	}
	exam.Recording, exam.Now = true, now.Add(time.Second)
	a.Render(exam)
	if len(a.bar.right.Objects) != 3 || a.bar.right.Objects[0] != items[0] {
		t.Fatal("the bar's items were rebuilt for a state of the same screen")
	}
	if !a.bar.rec.root.Visible() {
		t.Fatal("no recording badge once recording")
	}
	if got := a.bar.exam.Text; got != "·  Physics midterm" {
		t.Fatalf("exam name %q", got)
	}
	a.Render(client.State{Screen: client.ScreenFinishing, Finishing: &client.FinishingState{}})
	if len(a.bar.right.Objects) != 0 || w.FullScreen() || a.bar.rec.root.Visible() {
		t.Fatalf("finishing: %d bar items, full screen %v, recording badge %v", len(a.bar.right.Objects), w.FullScreen(), a.bar.rec.root.Visible())
	}
}

// TestPhotoProgressText: the upload's progress bar shows the state's
// progress, not the one before (a formatter set after SetValue did).
func TestPhotoProgressText(t *testing.T) {
	a, _ := newTestApp(t)
	for _, p := range []float64{0.4, 0.7} {
		a.Render(client.State{Screen: client.ScreenIDPhoto, Photo: &client.PhotoState{Step: client.PhotoUploading, Progress: p}})
	}
	s := a.cur.(*photoScreen)
	var text string
	for _, o := range test.WidgetRenderer(s.progress).Objects() {
		if c, ok := o.(*canvas.Text); ok {
			text = c.Text
		}
	}
	if text != "70%" {
		t.Fatalf("progress text %q, want 70%%", text)
	}
}

// TestCheckPreviewReset: the check screen's preview goes back to its
// placeholder when the camera goes away.
func TestCheckPreviewReset(t *testing.T) {
	a, _ := newTestApp(t)
	cam := &slowCamera{}
	a.Render(client.State{Screen: client.ScreenCheck, Check: &client.CheckState{Camera: cam, Closable: []string{"AnyDesk"}}})
	a.ShowFrame(cam, image.NewRGBA(image.Rect(0, 0, 4, 3)))
	s := a.cur.(*checkScreen)
	if s.preview.img.Image == nil || s.preview.note.Visible() {
		t.Fatal("no picture")
	}
	if s.closeApps.Text != "Close AnyDesk" {
		t.Fatalf("close button %q", s.closeApps.Text)
	}
	a.Render(client.State{Screen: client.ScreenCheck, Check: &client.CheckState{}})
	if s.preview.img.Image != nil || !s.preview.note.Visible() {
		t.Fatal("the picture stayed without a camera")
	}
}

// slowCamera is a camera whose pictures never come: Snapshot waits for
// its context (as capture does for a first frame). It counts the calls and
// the most in flight at once.
type slowCamera struct {
	mu                  sync.Mutex
	calls, now, maxBusy int
}

func (c *slowCamera) Snapshot(ctx context.Context, maxWidth int) ([]byte, error) {
	c.mu.Lock()
	c.calls++
	c.now++
	c.maxBusy = max(c.maxBusy, c.now)
	c.mu.Unlock()
	<-ctx.Done()
	c.mu.Lock()
	c.now--
	c.mu.Unlock()
	return nil, ctx.Err()
}

func (c *slowCamera) counts() (calls, now, maxBusy int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.now, c.maxBusy
}

// TestRunSlowCamera: a camera slow to give a picture does not hold up the
// states, only one picture is asked for at a time, and the one in flight
// ends with Run.
func TestRunSlowCamera(t *testing.T) {
	// A picture that waits a minute: before, Run waited with it, so the
	// generous deadlines below still tell the two apart.
	defer func(d time.Duration) { frameTimeout = d }(frameTimeout)
	frameTimeout = time.Minute
	a, _ := newTestApp(t)
	rendered := make(chan uint64, 10)
	a.rendered = func(s client.State) { rendered <- s.Version }
	cam := &slowCamera{}
	states := make(chan client.State)
	done, ran := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ran)
		a.Run(context.Background(), states, func() { close(done) })
	}()
	check := func(v uint64) client.State {
		return client.State{Version: v, Screen: client.ScreenCheck, Check: &client.CheckState{Camera: cam}}
	}
	expect := func(v uint64, within time.Duration) {
		t.Helper()
		select {
		case got := <-rendered:
			if got != v {
				t.Fatalf("rendered version %d, want %d", got, v)
			}
		case <-time.After(within):
			t.Fatalf("version %d not rendered in %v", v, within)
		}
	}
	states <- check(1)
	expect(1, 5*time.Second)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if calls, _, _ := cam.counts(); calls > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no picture asked for")
		}
	}
	// A snapshot is waiting: the next state is taken and rendered anyway.
	select {
	case states <- check(2):
	case <-time.After(10 * time.Second):
		t.Fatal("Run takes no state while a snapshot waits")
	}
	expect(2, 10*time.Second)
	time.Sleep(4 * previewInterval)
	if calls, _, maxBusy := cam.counts(); calls != 1 || maxBusy != 1 {
		t.Fatalf("%d snapshots asked for, %d at once; want 1 while the first waits", calls, maxBusy)
	}
	close(states)
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return when the states closed")
	}
	select {
	case <-done:
	default:
		t.Fatal("done not called")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, now, _ := cam.counts(); now == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the snapshot in flight goes on after Run returned")
		}
	}
}
