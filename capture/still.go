package capture

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"

	"golang.org/x/image/draw"
)

// jpegQuality balances ID-photo legibility against upload size.
const jpegQuality = 85

// encodeJPEG turns a video-range I420 frame into a JPEG no wider than
// maxWidth (0: keep the size), preserving the aspect ratio.
func encodeJPEG(frame *image.YCbCr, maxWidth int) ([]byte, error) {
	rgba := i420ToRGBA(frame)
	var img image.Image = rgba
	if w, h := rgba.Rect.Dx(), rgba.Rect.Dy(); maxWidth > 0 && w > maxWidth {
		nh := max(1, (h*maxWidth+w/2)/w)
		scaled := image.NewRGBA(image.Rect(0, 0, maxWidth, nh))
		// CatmullRom is slow but stills are rare and small; bilinear
		// aliases text on screen thumbnails.
		draw.CatmullRom.Scale(scaled, scaled.Rect, rgba, rgba.Rect, draw.Src, nil)
		img = scaled
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: jpegQuality}); err != nil {
		return nil, fmt.Errorf("encode jpeg: %w", err)
	}
	return buf.Bytes(), nil
}
