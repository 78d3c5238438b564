package capture

import (
	"image"
	"image/color"
)

// newI420 allocates a compact 4:2:0 image of w×h (both even).
func newI420(w, h int) *image.YCbCr {
	return image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
}

// evenRect shrinks r to even width and height, keeping its origin. H.264
// 4:2:0 needs even dimensions and openh264 takes compact planes only.
func evenRect(r image.Rectangle) image.Rectangle {
	r.Max.X = r.Min.X + r.Dx()&^1
	r.Max.Y = r.Min.Y + r.Dy()&^1
	return r
}

// toI420 converts the part r of src into dst (an I420 image of r's size,
// reallocated when it does not fit) and returns dst. r must lie inside
// src.Bounds() and have even sides. fullRange marks YCbCr sources that use
// the JPEG full range (MJPEG cameras); H.264 streams carry the video range
// (Y 16–235), so those are compressed.
//
// RGBA sources (screens) are converted with BT.601 video-range
// coefficients; this is the same matrix a decoder assumes for an SPS
// without colour description.
func toI420(dst *image.YCbCr, src image.Image, r image.Rectangle, fullRange bool) *image.YCbCr {
	w, h := r.Dx(), r.Dy()
	if dst == nil || dst.Rect.Dx() != w || dst.Rect.Dy() != h {
		dst = newI420(w, h)
	}
	switch s := src.(type) {
	case *image.YCbCr:
		ycbcrToI420(dst, s, r)
		if fullRange {
			toVideoRange(dst)
		}
	case *image.RGBA:
		rgbaToI420(dst, s.Pix, s.Stride, s.Rect, r)
	case *image.NRGBA: // opaque screens only: alpha is ignored
		rgbaToI420(dst, s.Pix, s.Stride, s.Rect, r)
	default:
		genericToI420(dst, src, r)
	}
	return dst
}

func ycbcrToI420(dst, s *image.YCbCr, r image.Rectangle) {
	w, h := r.Dx(), r.Dy()
	for y := 0; y < h; y++ {
		yi := s.YOffset(r.Min.X, r.Min.Y+y)
		copy(dst.Y[y*dst.YStride:y*dst.YStride+w], s.Y[yi:yi+w])
	}
	cw, ch := w/2, h/2
	switch s.SubsampleRatio {
	case image.YCbCrSubsampleRatio420:
		for y := 0; y < ch; y++ {
			ci := s.COffset(r.Min.X, r.Min.Y+2*y)
			copy(dst.Cb[y*dst.CStride:y*dst.CStride+cw], s.Cb[ci:ci+cw])
			copy(dst.Cr[y*dst.CStride:y*dst.CStride+cw], s.Cr[ci:ci+cw])
		}
	case image.YCbCrSubsampleRatio422:
		// Average the two source chroma rows of each output row.
		for y := 0; y < ch; y++ {
			c0 := s.COffset(r.Min.X, r.Min.Y+2*y)
			c1 := s.COffset(r.Min.X, r.Min.Y+2*y+1)
			o := y * dst.CStride
			for x := 0; x < cw; x++ {
				dst.Cb[o+x] = uint8((uint16(s.Cb[c0+x]) + uint16(s.Cb[c1+x]) + 1) >> 1)
				dst.Cr[o+x] = uint8((uint16(s.Cr[c0+x]) + uint16(s.Cr[c1+x]) + 1) >> 1)
			}
		}
	default:
		// 4:4:4, 4:4:0, 4:1:1, 4:1:0: sample chroma at each 2×2 block's
		// top-left pixel through COffset, which knows every ratio.
		for y := 0; y < ch; y++ {
			o := y * dst.CStride
			for x := 0; x < cw; x++ {
				ci := s.COffset(r.Min.X+2*x, r.Min.Y+2*y)
				dst.Cb[o+x] = s.Cb[ci]
				dst.Cr[o+x] = s.Cr[ci]
			}
		}
	}
}

// toVideoRange maps full-range (JFIF) YCbCr to video range in place.
func toVideoRange(img *image.YCbCr) {
	var ly, lc [256]uint8
	for i := range 256 {
		ly[i] = uint8(16 + (i*219+127)/255)
		lc[i] = uint8(128 + ((i-128)*224+(127*sign(i-128)))/255)
	}
	for i, v := range img.Y {
		img.Y[i] = ly[v]
	}
	for i, v := range img.Cb {
		img.Cb[i] = lc[v]
	}
	for i, v := range img.Cr {
		img.Cr[i] = lc[v]
	}
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

// rgbaToI420 converts 4-byte-per-pixel RGB(A) rows (pix, stride, bounds)
// inside r to I420 with BT.601 video-range integer coefficients. Chroma is
// the average of each 2×2 block.
func rgbaToI420(dst *image.YCbCr, pix []byte, stride int, bounds, r image.Rectangle) {
	w, h := r.Dx(), r.Dy()
	for y := 0; y < h; y += 2 {
		row0 := (r.Min.Y+y-bounds.Min.Y)*stride + (r.Min.X-bounds.Min.X)*4
		row1 := row0 + stride
		y0 := dst.Y[y*dst.YStride:]
		y1 := dst.Y[(y+1)*dst.YStride:]
		cb := dst.Cb[(y/2)*dst.CStride:]
		cr := dst.Cr[(y/2)*dst.CStride:]
		for x := 0; x < w; x += 2 {
			p := row0 + x*4
			q := row1 + x*4
			r00, g00, b00 := int32(pix[p]), int32(pix[p+1]), int32(pix[p+2])
			r01, g01, b01 := int32(pix[p+4]), int32(pix[p+5]), int32(pix[p+6])
			r10, g10, b10 := int32(pix[q]), int32(pix[q+1]), int32(pix[q+2])
			r11, g11, b11 := int32(pix[q+4]), int32(pix[q+5]), int32(pix[q+6])
			y0[x] = lumaBT601(r00, g00, b00)
			y0[x+1] = lumaBT601(r01, g01, b01)
			y1[x] = lumaBT601(r10, g10, b10)
			y1[x+1] = lumaBT601(r11, g11, b11)
			rs, gs, bs := r00+r01+r10+r11, g00+g01+g10+g11, b00+b01+b10+b11
			// Sums of four: divide by 4 inside the >>10 (256·4).
			cb[x/2] = uint8((-38*rs-74*gs+112*bs+512)>>10 + 128)
			cr[x/2] = uint8((112*rs-94*gs-18*bs+512)>>10 + 128)
		}
	}
}

func lumaBT601(r, g, b int32) uint8 {
	return uint8((66*r+129*g+25*b+128)>>8 + 16)
}

func genericToI420(dst *image.YCbCr, src image.Image, r image.Rectangle) {
	w, h := r.Dx(), r.Dy()
	for y := 0; y < h; y += 2 {
		for x := 0; x < w; x += 2 {
			var rs, gs, bs int32
			for dy := 0; dy < 2; dy++ {
				for dx := 0; dx < 2; dx++ {
					c := color.RGBAModel.Convert(src.At(r.Min.X+x+dx, r.Min.Y+y+dy)).(color.RGBA)
					rr, gg, bb := int32(c.R), int32(c.G), int32(c.B)
					dst.Y[(y+dy)*dst.YStride+x+dx] = lumaBT601(rr, gg, bb)
					rs, gs, bs = rs+rr, gs+gg, bs+bb
				}
			}
			dst.Cb[(y/2)*dst.CStride+x/2] = uint8((-38*rs-74*gs+112*bs+512)>>10 + 128)
			dst.Cr[(y/2)*dst.CStride+x/2] = uint8((112*rs-94*gs-18*bs+512)>>10 + 128)
		}
	}
}

// i420ToRGBA converts a video-range I420 image to RGBA (BT.601), for
// stills.
func i420ToRGBA(src *image.YCbCr) *image.RGBA {
	b := src.Rect
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		row := dst.Pix[y*dst.Stride:]
		for x := 0; x < b.Dx(); x++ {
			yi := src.YOffset(b.Min.X+x, b.Min.Y+y)
			ci := src.COffset(b.Min.X+x, b.Min.Y+y)
			c := int32(src.Y[yi]) - 16
			d := int32(src.Cb[ci]) - 128
			e := int32(src.Cr[ci]) - 128
			row[4*x] = clamp8((298*c + 409*e + 128) >> 8)
			row[4*x+1] = clamp8((298*c - 100*d - 208*e + 128) >> 8)
			row[4*x+2] = clamp8((298*c + 516*d + 128) >> 8)
			row[4*x+3] = 0xff
		}
	}
	return dst
}

func clamp8(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}
