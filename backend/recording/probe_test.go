package recording

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/invigil/invigil/capture"
)

// sampleFile writes a small valid recording and returns its bytes.
func sampleFile(t testing.TB, frames int) []byte {
	t.Helper()
	fr := encodeScene(t, 96, 64, time.Duration(frames)*time.Second/15, time.Unix(1_700_000_000, 0))
	path := filepath.Join(t.TempDir(), "s.mp4")
	w, err := Open(path, State{})
	if err != nil {
		t.Fatal(err)
	}
	s := toSamples(fr)
	for i := 0; i < len(s); i += 4 {
		if err := w.Write(s[i:min(i+4, len(s))]); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProbeEveryTruncation(t *testing.T) {
	data := sampleFile(t, 30)
	full, err := ProbeReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if full.Bytes != int64(len(data)) || full.Frames == 0 {
		t.Fatalf("full file: %+v", full)
	}
	prev := 0
	sawInit := false
	for n := 0; n <= len(data); n++ {
		info, err := ProbeReader(bytes.NewReader(data[:n]), int64(n))
		if err != nil {
			if sawInit {
				t.Fatalf("truncated at %d after a complete init segment: %v", n, err)
			}
			continue
		}
		sawInit = true
		if info.Bytes > int64(n) || info.Frames < prev || info.Frames > full.Frames {
			t.Fatalf("truncated at %d: %+v (previous %d frames)", n, info, prev)
		}
		prev = info.Frames
	}
	if prev != full.Frames {
		t.Errorf("last truncation saw %d frames, want %d", prev, full.Frames)
	}
}

func TestProbeCorruptBytesNeverPanics(t *testing.T) {
	data := sampleFile(t, 20)
	rng := rand.New(rand.NewSource(1))
	buf := make([]byte, len(data))
	for i := 0; i < 3000; i++ {
		copy(buf, data)
		for k := 0; k < 1+rng.Intn(8); k++ {
			buf[rng.Intn(len(buf))] = byte(rng.Intn(256))
		}
		n := len(buf) - rng.Intn(len(buf)/4)
		ProbeReader(bytes.NewReader(buf[:n]), int64(n)) // must not panic
	}
}

func FuzzProbe(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x00\x00\x08ftyp"))
	f.Add([]byte("\x00\x00\x00\x01mdat\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte("\x00\x00\x00\x10moov\x00\x00\x00\x08trak"))
	if e, err := capture.NewEncoder(capture.Config{}, false, nil); err == nil {
		e.Close()
		f.Add(sampleFile(f, 12)) // a real recording, when this build can encode
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ProbeReader(bytes.NewReader(data), int64(len(data)))
		if err == nil && (info.Bytes > int64(len(data)) || info.Frames < 0) {
			t.Errorf("impossible info %+v for %d bytes", info, len(data))
		}
	})
}
