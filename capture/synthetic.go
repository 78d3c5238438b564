package capture

import (
	"errors"
	"image"
	"math"
	"time"
)

// tickSource paces a generator with a ticker, like a driver would, and
// stops cleanly: Read after Close returns io.EOF-like errSourceClosed
// instead of blocking on a stopped ticker (which is what mediadevices'
// videotest does, see doc.go).
type tickSource struct {
	tick *time.Ticker
	done chan struct{}
	n    int
	draw func(n int) image.Image
}

var errSourceClosed = errors.New("source closed")

func newTickSource(fps float64, draw func(n int) image.Image) *tickSource {
	return &tickSource{
		tick: time.NewTicker(time.Duration(float64(time.Second) / fps)),
		done: make(chan struct{}),
		draw: draw,
	}
}

func (t *tickSource) Read() (image.Image, error) {
	select {
	case <-t.done:
		return nil, errSourceClosed
	case <-t.tick.C:
	}
	img := t.draw(t.n)
	t.n++
	return img, nil
}

func (t *tickSource) Close() error {
	t.tick.Stop()
	close(t.done)
	return nil
}

// sceneGen draws the synthetic webcam scene of bench/capture/scene.sh in
// I420: a static room (wall, desk), a person-sized box that sways, a dark
// band for the eyes, and temporal sensor noise of ±12 on every plane. It is
// the realistic content the bitrate tests need: mostly static, some motion,
// noise everywhere (the videotest driver's colour bars are either static or
// pure binary noise).
//
// To stay cheap (tests run it under the race detector) the noisy room is
// precomputed for sceneNoise frames and copied; only the person is drawn
// per frame, with the same noise planes.
type sceneGen struct {
	w, h, fps int
	img       *image.YCbCr
	rooms     []*image.YCbCr // the room with noise pattern k
	noise     [][3][]int8    // noise pattern k, per plane
}

const sceneNoise = 8

func newSceneGen(w, h int, fps float64) *sceneGen {
	w, h = w&^1, h&^1
	g := &sceneGen{w: w, h: h, fps: max(1, int(math.Round(fps))), img: newI420(w, h)}
	rng := uint64(0x9e3779b97f4a7c15)
	for k := 0; k < sceneNoise; k++ {
		room := newI420(w, h)
		fillI420(room, room.Rect, sceneWall)
		fillI420(room, image.Rect(0, h*5/8, w, h), sceneDesk)
		var planes [3][]int8
		for i, p := range [][]uint8{room.Y, room.Cb, room.Cr} {
			planes[i] = make([]int8, len(p))
			for j := range p {
				rng ^= rng << 13
				rng ^= rng >> 7
				rng ^= rng << 17
				planes[i][j] = int8(int(rng%25) - 12) // uniform in [-12, 12], like noise=alls=12:allf=t
			}
			addNoise(p, planes[i], 0, len(p))
		}
		g.rooms = append(g.rooms, room)
		g.noise = append(g.noise, planes)
	}
	return g
}

// Colours of scene.sh as video-range YCbCr.
var (
	sceneWall   = rgbToYCbCr601(0x6b, 0x7b, 0x8c)
	sceneDesk   = rgbToYCbCr601(0x4a, 0x3b, 0x2a)
	scenePerson = rgbToYCbCr601(0xd9, 0xa0, 0x7a)
	sceneEyes   = rgbToYCbCr601(0x30, 0x30, 0x30)
)

func rgbToYCbCr601(r, g, b int32) [3]uint8 {
	return [3]uint8{
		lumaBT601(r, g, b),
		uint8((-38*r-74*g+112*b+128)>>8 + 128),
		uint8((112*r-94*g-18*b+128)>>8 + 128),
	}
}

func (g *sceneGen) frame(n int) image.Image {
	w, h := g.w, g.h
	t := float64(n) / float64(g.fps)
	k := n % sceneNoise
	room := g.rooms[k]
	copy(g.img.Y, room.Y)
	copy(g.img.Cb, room.Cb)
	copy(g.img.Cr, room.Cr)
	px := w*5/16 + int(float64(w*3/32)*math.Sin(t*1.3))
	py := h/4 + int(float64(h/24)*math.Sin(t*2.1))
	person := image.Rect(px, py, px+w*11/32, py+h*5/8).Intersect(g.img.Rect)
	fillI420(g.img, person, scenePerson)
	ex := w*25/64 + int(float64(w*3/32)*math.Sin(t*1.3))
	ey := h*17/48 + int(float64(h/24)*math.Sin(t*2.1))
	fillI420(g.img, image.Rect(ex, ey, ex+w*3/16, ey+h/12), sceneEyes)
	// Noise over the person (the room copy has its own already).
	for y := person.Min.Y; y < person.Max.Y; y++ {
		o := y * g.img.YStride
		addNoise(g.img.Y, g.noise[k][0], o+person.Min.X, o+person.Max.X)
	}
	for y := person.Min.Y / 2; y < (person.Max.Y+1)/2; y++ {
		o := y * g.img.CStride
		addNoise(g.img.Cb, g.noise[k][1], o+person.Min.X/2, o+(person.Max.X+1)/2)
		addNoise(g.img.Cr, g.noise[k][2], o+person.Min.X/2, o+(person.Max.X+1)/2)
	}
	return g.img
}

func addNoise(p []uint8, noise []int8, from, to int) {
	p, noise = p[from:to], noise[from:to]
	for i, v := range p {
		p[i] = uint8(min(max(int(v)+int(noise[i]), 0), 255))
	}
}

// fillI420 paints r (clipped to img) with a YCbCr colour.
func fillI420(img *image.YCbCr, r image.Rectangle, c [3]uint8) {
	r = r.Intersect(img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := img.Y[y*img.YStride:]
		for x := r.Min.X; x < r.Max.X; x++ {
			row[x] = c[0]
		}
	}
	for y := r.Min.Y / 2; y < (r.Max.Y+1)/2; y++ {
		cb := img.Cb[y*img.CStride:]
		cr := img.Cr[y*img.CStride:]
		for x := r.Min.X / 2; x < (r.Max.X+1)/2; x++ {
			cb[x], cr[x] = c[1], c[2]
		}
	}
}

// screenGen draws a synthetic desktop in I420: a background, a few static
// "windows" with text-like stripes, one window that moves a little and a
// counter block that changes every frame, so a screen stream always has
// something to encode.
type screenGen struct {
	w, h int
	base *image.YCbCr
	img  *image.YCbCr
}

func newScreenGen(w, h int) *screenGen {
	w, h = w&^1, h&^1
	g := &screenGen{w: w, h: h, base: newI420(w, h), img: newI420(w, h)}
	bg := rgbToYCbCr601(0x2d, 0x5a, 0x88)
	win := rgbToYCbCr601(0xf2, 0xf2, 0xf2)
	bar := rgbToYCbCr601(0x44, 0x44, 0x55)
	txt := rgbToYCbCr601(0x22, 0x22, 0x22)
	fillI420(g.base, g.base.Rect, bg)
	for i, r := range []image.Rectangle{
		image.Rect(w/20, h/12, w/2, h*2/3),
		image.Rect(w*11/20, h/8, w*19/20, h/2),
		image.Rect(w/3, h*3/5, w*5/6, h*11/12),
	} {
		fillI420(g.base, r, win)
		fillI420(g.base, image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+max(8, h/40)), bar)
		// Text lines: short dark stripes of varying length.
		for y := r.Min.Y + h/20; y+6 < r.Max.Y; y += max(12, h/45) {
			for x := r.Min.X + 8; x+40 < r.Max.X; x += 48 + (x*7+y*3+i)%40 {
				fillI420(g.base, image.Rect(x, y, x+24+(x+y)%30, y+max(2, h/240)*2), txt)
			}
		}
	}
	return g
}

func (g *screenGen) frame(n int) image.Image {
	copy(g.img.Y, g.base.Y)
	copy(g.img.Cb, g.base.Cb)
	copy(g.img.Cr, g.base.Cr)
	// A small window sliding back and forth, and a changing counter.
	off := int(float64(g.w/10) * math.Sin(float64(n)*0.4))
	r := image.Rect(g.w/2+off, g.h/3, g.w/2+off+g.w/6, g.h/3+g.h/6)
	fillI420(g.img, r, rgbToYCbCr601(0xfa, 0xe0, 0x90))
	for b := 0; b < 16; b++ {
		c := rgbToYCbCr601(0x10, 0x10, 0x10)
		if n>>b&1 == 1 {
			c = rgbToYCbCr601(0xe0, 0x30, 0x30)
		}
		x := g.w - 20*(b+1)
		fillI420(g.img, image.Rect(x, g.h-24, x+16, g.h-8), c)
	}
	return g.img
}
