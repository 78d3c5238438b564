package capture

import (
	"testing"

	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/prop"
)

func mode(w, h int, fps float32, f frame.Format) prop.Media {
	return prop.Media{Video: prop.Video{Width: w, Height: h, FrameRate: fps, FrameFormat: f}}
}

func TestChooseMode(t *testing.T) {
	uvc := []prop.Media{
		mode(1920, 1080, 30, frame.FormatMJPEG),
		mode(1280, 720, 30, frame.FormatMJPEG),
		mode(640, 480, 30, frame.FormatMJPEG),
		mode(1280, 720, 10, frame.FormatYUYV),
		mode(640, 480, 30, frame.FormatYUYV),
		mode(640, 480, 15, frame.FormatYUYV),
		mode(320, 240, 30, frame.FormatYUYV),
		mode(640, 480, 30, frame.FormatZ16),
	}
	tests := []struct {
		name  string
		props []prop.Media
		w, h  int
		fps   float64
		want  prop.Media
	}{
		{"exact yuyv", uvc, 640, 480, 15, uvc[5]},
		{"30 fps prefers yuyv over mjpeg", uvc, 640, 480, 30, uvc[4]},
		{"720p at 30 needs mjpeg", uvc, 1280, 720, 30, uvc[1]},
		{"odd size takes nearest", uvc, 600, 400, 15, uvc[5]},
		{"only depth", []prop.Media{mode(640, 480, 30, frame.FormatZ16)}, 640, 480, 15, prop.Media{}},
		{"unknown rate filled in", []prop.Media{mode(640, 480, 0, frame.FormatYUYV)}, 640, 480, 15, mode(640, 480, 15, frame.FormatYUYV)},
	}
	for _, tt := range tests {
		got, err := chooseMode(tt.props, tt.w, tt.h, tt.fps)
		if tt.want == (prop.Media{}) {
			if err == nil {
				t.Errorf("%s: got %+v, want error", tt.name, got.Video)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %+v (%v), want %+v", tt.name, got.Video, err, tt.want.Video)
		}
	}
}
