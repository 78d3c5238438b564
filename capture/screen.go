package capture

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"strconv"
	"time"

	"github.com/kbinani/screenshot"
)

// Displays lists the monitors (kbinani/screenshot: Xinerama on X11, GDI on
// Windows, CoreGraphics on macOS). No display server, or none reachable,
// gives ErrNoDisplay. Opening the X display fails now and then under Xvfb
// (EOF/EAGAIN), so an empty answer is retried a few times.
func Displays() ([]Display, error) {
	var n int
	for attempt := 0; attempt < 3; attempt++ {
		if n = screenshot.NumActiveDisplays(); n > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n == 0 {
		return nil, fmt.Errorf("list displays: %w", ErrNoDisplay)
	}
	out := make([]Display, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, Display{Index: i, Bounds: screenshot.GetDisplayBounds(i)})
	}
	return out, nil
}

// screenTarget is a parsed screen Config.Source.
type screenTarget struct {
	all   bool
	index int
}

func parseScreenSource(s string) (screenTarget, error) {
	if s == "all" || s == "" {
		return screenTarget{all: true}, nil
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 {
		return screenTarget{}, fmt.Errorf("screen source %q: want \"all\", \"test\" or a display index: %w", s, ErrNoDisplay)
	}
	return screenTarget{index: i}, nil
}

// OpenScreen opens a screen source and starts encoding it at full
// resolution. cfg's zero fields take DefaultScreenConfig's values. Source:
// "all" (every monitor as one image where the OS allows it), "0", "1", ...
// (one display), or "test" (synthetic desktop of cfg.Width×cfg.Height,
// default 1280×720). ctx bounds the opening only (display retries
// included); Close ends the stream. Errors: ErrNoDisplay, ErrUnsupported
// (wrapped).
func OpenScreen(ctx context.Context, cfg Config, log *slog.Logger) (*Stream, error) {
	cfg, err := cfg.withDefaults(DefaultScreenConfig())
	if err != nil {
		return nil, err
	}
	if !encoderAvailable {
		return nil, fmt.Errorf("open screen: %w", ErrUnsupported)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	spec := sourceSpec{kind: "screen", screen: true}
	if cfg.Source == "test" {
		if cfg.Width == 0 || cfg.Height == 0 {
			cfg.Width, cfg.Height = 1280, 720
		}
		g := newScreenGen(cfg.Width, cfg.Height)
		spec.src = newTickSource(cfg.FPS, g.frame)
		return newStream(cfg, spec, log), nil
	}
	target, err := parseScreenSource(cfg.Source)
	if err != nil {
		return nil, err
	}
	src, crop, err := openScreenDevice(ctx, target, cfg.FPS)
	if err != nil {
		return nil, fmt.Errorf("open screen %q: %w", cfg.Source, err)
	}
	spec.src, spec.crop = src, crop
	return newStream(cfg, spec, log), nil
}

// displayRect returns display i's rectangle relative to the origin of an
// image of the whole desktop whose top-left display starts at (minX, minY).
func displayRect(displays []Display, i int) (image.Rectangle, error) {
	if i >= len(displays) {
		return image.Rectangle{}, fmt.Errorf("display %d of %d: %w", i, len(displays), ErrNoDisplay)
	}
	var union image.Rectangle
	for _, d := range displays {
		union = union.Union(d.Bounds)
	}
	return displays[i].Bounds.Sub(union.Min), nil
}

// pacedSource reads a source at fps: the first frame at once, then one
// period after the last. The screen drivers either capture on every Read
// with no pacing of their own (kbinani/screenshot) or wait for their own
// ticker (X11), whose first tick comes a whole period late: 1 s at the
// screen's 1 fps. The schedule is a pacer's, started when the first frame
// arrives: in step with the stream's own pacer, which would otherwise drop
// a frame that came early by a grab's time, and restarted after a stall.
//
// Read's wait is not cut short by Close: a Stream closes its source only
// once its goroutine has stopped reading (Stream.Close waits up to one
// period).
type pacedSource struct {
	src   rawSource
	sched pacer // only Read touches it, from one goroutine
}

func newPacedSource(src rawSource, fps float64) *pacedSource {
	return &pacedSource{src: src, sched: *newPacer(fps)}
}

func (p *pacedSource) Read() (image.Image, error) {
	if !p.sched.next.IsZero() {
		time.Sleep(time.Until(p.sched.next))
	}
	img, err := p.src.Read()
	// Never refused: Read slept until the frame was due.
	p.sched.admit(time.Now())
	return img, err
}

func (p *pacedSource) Close() error { return p.src.Close() }
