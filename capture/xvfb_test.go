//go:build linux && cgo

package capture

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
	"time"

	"github.com/invigil/invigil/capture/xvfb/xvfbtest"
	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// xconn opens the X display, retrying: under Xvfb the connection set-up
// fails now and then (EOF/EAGAIN).
func xconn(t *testing.T, display string) *xgb.Conn {
	t.Helper()
	var lastErr error
	for i := 0; i < 5; i++ {
		c, err := xgb.NewConnDisplay(display)
		if err == nil {
			return c
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("connect to %s: %v", display, lastErr)
	return nil
}

// paint maps an override-redirect window of a solid colour (0xRRGGBB).
func paint(t *testing.T, c *xgb.Conn, r image.Rectangle, rgb uint32) {
	t.Helper()
	screen := xproto.Setup(c).DefaultScreen(c)
	wid, err := xproto.NewWindowId(c)
	if err != nil {
		t.Fatal(err)
	}
	err = xproto.CreateWindowChecked(c, screen.RootDepth, wid, screen.Root,
		int16(r.Min.X), int16(r.Min.Y), uint16(r.Dx()), uint16(r.Dy()), 0,
		xproto.WindowClassInputOutput, screen.RootVisual,
		xproto.CwBackPixel|xproto.CwOverrideRedirect, []uint32{rgb, 1}).Check()
	if err != nil {
		t.Fatal(err)
	}
	if err := xproto.MapWindowChecked(c, wid).Check(); err != nil {
		t.Fatal(err)
	}
}

func near(c color.Color, r, g, b uint8) bool {
	cr, cg, cb, _ := c.RGBA()
	d := func(a uint32, b uint8) bool { return absDiff(uint8(a>>8), b) <= 40 }
	return d(cr, r) && d(cg, g) && d(cb, b)
}

func snapshotImage(t *testing.T, s *Stream) image.Image {
	t.Helper()
	b, err := s.Snapshot(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestScreenUnderXvfb(t *testing.T) {
	needEncoder(t)
	display := xvfbtest.Start(t, "1280x720x24")
	t.Setenv("DISPLAY", display)
	c := xconn(t, display)
	defer c.Close()
	paint(t, c, image.Rect(0, 0, 640, 360), 0xff0000)      // red, top left
	paint(t, c, image.Rect(640, 360, 1280, 720), 0x0000ff) // blue, bottom right

	displays, err := Displays()
	if err != nil {
		t.Fatal(err)
	}
	if len(displays) != 1 || displays[0].Bounds != image.Rect(0, 0, 1280, 720) {
		t.Fatalf("Displays = %+v, want one 1280x720", displays)
	}

	ctx := context.Background()
	s, err := OpenScreen(ctx, Config{Source: "all", FPS: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	frames := readFor(t, s, 2*time.Second)
	checkFrames(t, frames, 1280, 720)
	if n, w, h := ffprobeFrames(t, frames); n != len(frames) || w != 1280 || h != 720 {
		t.Errorf("ffprobe: %d frames %dx%d, want %d of 1280x720", n, w, h, len(frames))
	}
	img := snapshotImage(t, s)
	if !near(img.At(100, 100), 255, 0, 0) || !near(img.At(1000, 600), 0, 0, 255) {
		t.Errorf("screen content: (100,100)=%v (1000,600)=%v, want red and blue", img.At(100, 100), img.At(1000, 600))
	}
	t.Logf("Xvfb screen: %d frames, %.1f kbps, stats %+v", len(frames), kbpsOf(frames), s.Stats())
	if err := s.Close(); err != nil {
		t.Error(err)
	}

	if _, err := OpenScreen(ctx, Config{Source: "3"}, nil); !errors.Is(err, ErrNoDisplay) {
		t.Errorf("display 3 of 1: %v, want ErrNoDisplay", err)
	}
}

func TestScreenPerDisplayCrop(t *testing.T) {
	needEncoder(t)
	// Two heads through Xinerama. Xvfb reports both at (0,0) (see
	// DESIGN.md), so display 1 is the 800×600 top-left part of the root.
	display := xvfbtest.Start(t, "1280x720x24", "800x600x24")
	t.Setenv("DISPLAY", display)
	c := xconn(t, display)
	defer c.Close()
	paint(t, c, image.Rect(0, 0, 400, 300), 0x00ff00)

	displays, err := Displays()
	if err != nil {
		t.Fatal(err)
	}
	if len(displays) != 2 {
		t.Fatalf("Displays = %+v, want 2", displays)
	}
	for _, tt := range []struct {
		source string
		w, h   int
	}{{"0", 1280, 720}, {"1", 800, 600}} {
		t.Run("display"+tt.source, func(t *testing.T) {
			s, err := OpenScreen(context.Background(), Config{Source: tt.source, FPS: 4}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			frames := readFor(t, s, time.Second)
			checkFrames(t, frames, tt.w, tt.h)
			img := snapshotImage(t, s)
			if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("snapshot %v, want %dx%d", b, tt.w, tt.h)
			}
			if !near(img.At(200, 150), 0, 255, 0) {
				t.Errorf("content at (200,150) = %v, want green", img.At(200, 150))
			}
		})
	}
}

// TestMultipleScreenStreams: each stream registers its own X11 driver, so
// two can run at once (e.g. a thumbnail stream next to the recording).
func TestMultipleScreenStreams(t *testing.T) {
	needEncoder(t)
	t.Setenv("DISPLAY", xvfbtest.Start(t, "640x480x24"))
	var streams []*Stream
	for i := 0; i < 2; i++ {
		s, err := OpenScreen(context.Background(), Config{Source: "all", FPS: 4}, nil)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		defer s.Close()
		streams = append(streams, s)
	}
	for i, s := range streams {
		if f := readFor(t, s, 500*time.Millisecond); len(f) < 2 {
			t.Errorf("stream %d: %d frames", i, len(f))
		}
	}
}
