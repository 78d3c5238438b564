package capture

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func TestRGBAToI420Colours(t *testing.T) {
	tests := []struct {
		c         color.RGBA
		y, cb, cr uint8 // BT.601 video range
	}{
		{color.RGBA{0, 0, 0, 255}, 16, 128, 128},
		{color.RGBA{255, 255, 255, 255}, 235, 128, 128},
		{color.RGBA{255, 0, 0, 255}, 81, 90, 240},
		{color.RGBA{0, 255, 0, 255}, 145, 54, 34},
		{color.RGBA{0, 0, 255, 255}, 41, 240, 110},
	}
	for _, tt := range tests {
		src := image.NewRGBA(image.Rect(0, 0, 4, 4))
		for i := 0; i < len(src.Pix); i += 4 {
			src.Pix[i], src.Pix[i+1], src.Pix[i+2], src.Pix[i+3] = tt.c.R, tt.c.G, tt.c.B, tt.c.A
		}
		dst := toI420(nil, src, src.Rect, false)
		if absDiff(dst.Y[0], tt.y) > 1 || absDiff(dst.Cb[0], tt.cb) > 1 || absDiff(dst.Cr[0], tt.cr) > 1 {
			t.Errorf("%v -> Y%d Cb%d Cr%d, want Y%d Cb%d Cr%d", tt.c, dst.Y[0], dst.Cb[0], dst.Cr[0], tt.y, tt.cb, tt.cr)
		}
		back := i420ToRGBA(dst)
		r, g, b := back.Pix[0], back.Pix[1], back.Pix[2]
		if absDiff(r, tt.c.R) > 3 || absDiff(g, tt.c.G) > 3 || absDiff(b, tt.c.B) > 3 {
			t.Errorf("round trip %v -> %d,%d,%d", tt.c, r, g, b)
		}
	}
}

func TestToI420CropsRGBA(t *testing.T) {
	// Two "monitors" side by side: left red, right blue; crop the right.
	src := image.NewRGBA(image.Rect(0, 0, 64, 32))
	for y := 0; y < 32; y++ {
		for x := 0; x < 64; x++ {
			c := color.RGBA{255, 0, 0, 255}
			if x >= 32 {
				c = color.RGBA{0, 0, 255, 255}
			}
			src.SetRGBA(x, y, c)
		}
	}
	dst := toI420(nil, src, image.Rect(32, 0, 64, 32), false)
	if dst.Rect.Dx() != 32 || dst.Rect.Dy() != 32 {
		t.Fatalf("crop size %v", dst.Rect)
	}
	for i, v := range dst.Y {
		if absDiff(v, 41) > 1 {
			t.Fatalf("Y[%d] = %d, want blue's 41", i, v)
		}
	}
}

func TestToI420FromYCbCr(t *testing.T) {
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio444,
	} {
		src := image.NewYCbCr(image.Rect(0, 0, 16, 8), ratio)
		for i := range src.Y {
			src.Y[i] = uint8(i)
		}
		for i := range src.Cb {
			src.Cb[i], src.Cr[i] = 100, 200
		}
		// Crop with an offset so YOffset/COffset are exercised.
		r := image.Rect(2, 2, 14, 8)
		dst := toI420(nil, src, r, false)
		for y := 0; y < r.Dy(); y++ {
			for x := 0; x < r.Dx(); x++ {
				if got, want := dst.Y[y*dst.YStride+x], src.Y[src.YOffset(r.Min.X+x, r.Min.Y+y)]; got != want {
					t.Fatalf("%v: Y(%d,%d) = %d, want %d", ratio, x, y, got, want)
				}
			}
		}
		for i := range dst.Cb {
			if dst.Cb[i] != 100 || dst.Cr[i] != 200 {
				t.Fatalf("%v: chroma[%d] = %d,%d", ratio, i, dst.Cb[i], dst.Cr[i])
			}
		}
	}
}

func TestToVideoRange(t *testing.T) {
	img := newI420(2, 2)
	img.Y[0], img.Y[1], img.Y[2] = 0, 255, 128
	img.Cb[0], img.Cr[0] = 0, 255
	toVideoRange(img)
	if img.Y[0] != 16 || img.Y[1] != 235 || absDiff(img.Y[2], 126) > 1 || img.Cb[0] != 16 || img.Cr[0] != 240 {
		t.Errorf("video range: Y %v Cb %d Cr %d", img.Y[:3], img.Cb[0], img.Cr[0])
	}
}

func TestEvenRect(t *testing.T) {
	if got := evenRect(image.Rect(1, 1, 8, 6)); got != image.Rect(1, 1, 7, 5) {
		t.Errorf("evenRect = %v", got)
	}
}

func TestEncodeJPEGScales(t *testing.T) {
	g := newSceneGen(640, 480, 15)
	img := g.frame(0).(*image.YCbCr)
	for _, tt := range []struct{ max, w, h int }{{0, 640, 480}, {320, 320, 240}, {1000, 640, 480}, {101, 101, 76}} {
		b, err := encodeJPEG(img, tt.max)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Width != tt.w || cfg.Height != tt.h {
			t.Errorf("maxWidth %d: got %dx%d, want %dx%d", tt.max, cfg.Width, cfg.Height, tt.w, tt.h)
		}
	}
}
