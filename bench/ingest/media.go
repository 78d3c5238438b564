package main

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
)

// accessUnit is one pre-encoded H.264 access unit (Annex-B).
type accessUnit struct {
	data     []byte
	keyframe bool
}

// media holds the payloads every simulated client sends: a camera clip and
// a screen clip encoded like the default policy's capture settings, and a
// JPEG still. Clients share them read-only and start at different offsets.
type media struct {
	camera, screen []accessUnit
	still          []byte
}

// Default policy capture settings (assets/default-policy.json).
const (
	cameraFPS     = 15
	cameraKbps    = 150
	cameraKeyint  = 2 * cameraFPS // keyframe_interval_s 2
	screenFPS     = 1
	screenKbps    = 80
	screenKeyint  = 10 * screenFPS // keyframe_interval_s 10
	cameraSeconds = 20
	screenSeconds = 60
)

// encodeMedia encodes the clips with ffmpeg (libx264, baseline, the
// default policy's sizes, rates, bitrates and keyframe intervals; a noisy
// test pattern so that the encoder spends its bitrate) into dir.
func encodeMedia(dir string) (*media, error) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return nil, errors.New("ffmpeg (with libx264) is needed to make the H.264 payloads: apt-get install ffmpeg")
	}
	enc := func(name, size string, fps, kbps, keyint, secs int) ([]accessUnit, error) {
		out := filepath.Join(dir, name+".h264")
		args := []string{"-hide_banner", "-loglevel", "error", "-y",
			"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", size, fps),
			"-t", fmt.Sprint(secs), "-vf", "noise=alls=12:allf=t",
			"-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
			"-b:v", fmt.Sprintf("%dk", kbps), "-maxrate", fmt.Sprintf("%dk", kbps), "-bufsize", fmt.Sprintf("%dk", 2*kbps),
			"-g", fmt.Sprint(keyint), "-keyint_min", fmt.Sprint(keyint), "-sc_threshold", "0", "-bf", "0",
			"-x264-params", "aud=1:repeat-headers=1", "-f", "h264", out}
		cmd := exec.Command("ffmpeg", args...)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ffmpeg %s: %w: %s", name, err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			return nil, err
		}
		aus := splitAccessUnits(b)
		if len(aus) == 0 || !aus[0].keyframe {
			return nil, fmt.Errorf("ffmpeg %s: no access units starting with a keyframe", name)
		}
		return aus, nil
	}
	cam, err := enc("camera", "640x480", cameraFPS, cameraKbps, cameraKeyint, cameraSeconds)
	if err != nil {
		return nil, err
	}
	scr, err := enc("screen", "1280x720", screenFPS, screenKbps, screenKeyint, screenSeconds)
	if err != nil {
		return nil, err
	}
	return &media{camera: cam, screen: scr, still: makeStill()}, nil
}

// splitAccessUnits cuts an Annex-B stream at its access unit delimiters
// (NAL type 9, which x264 writes with aud=1).
func splitAccessUnits(b []byte) []accessUnit {
	var starts []int // offsets of start codes of AUD NAL units
	for i := 0; i+4 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 && b[i+3]&0x1f == 9 {
			s := i
			if s > 0 && b[s-1] == 0 {
				s--
			}
			starts = append(starts, s)
		}
	}
	var out []accessUnit
	for k, s := range starts {
		e := len(b)
		if k+1 < len(starts) {
			e = starts[k+1]
		}
		au := b[s:e]
		out = append(out, accessUnit{data: au, keyframe: hasIDR(au)})
	}
	return out
}

func hasIDR(au []byte) bool {
	for i := 0; i+3 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 && au[i+3]&0x1f == 5 {
			return true
		}
	}
	return false
}

// makeStill is a 640×480 JPEG like an ID photo or snapshot.
func makeStill() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			img.Set(x, y, color.RGBA{uint8(x / 3), uint8(y / 2), uint8((x ^ y) & 0xff), 255})
		}
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80})
	return buf.Bytes()
}
