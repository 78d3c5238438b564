package exam

import (
	"context"
	"testing"
	"time"

	"github.com/invigil/invigil/capture"
)

// The keyframe command makes the named track's next frame an IDR, long
// before its keyframe interval; an unknown or absent track is refused.
func TestMediaForceKeyframe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cam, err := capture.OpenCamera(ctx, capture.Config{Source: "scene", Width: 160, Height: 120, FPS: 15, KeyframeInterval: 10 * time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	m := &Media{cam: cam}
	read := func() capture.Frame {
		t.Helper()
		f, err := cam.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if f := read(); !f.Keyframe {
		t.Fatal("the first frame is not a keyframe")
	}
	for range 5 {
		if read().Keyframe {
			t.Fatal("a keyframe before the interval without a request")
		}
	}
	if !m.ForceKeyframe("camera") {
		t.Fatal("camera refused")
	}
	got := false
	for range 3 { // the request applies to the next frame encoded
		if read().Keyframe {
			got = true
			break
		}
	}
	if !got {
		t.Error("no keyframe after the request")
	}
	for _, track := range []string{"screen", "stills", ""} {
		if m.ForceKeyframe(track) {
			t.Errorf("ForceKeyframe(%q) with no such stream reported true", track)
		}
	}
}
