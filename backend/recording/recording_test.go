package recording

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/invigil/invigil/capture"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func needFFprobe(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Fatal("ffprobe not installed: scripts/setup.sh installs it")
	}
}

// toSamples converts capture frames to recording samples.
func toSamples(frames []capture.Frame) []Sample {
	out := make([]Sample, len(frames))
	for i, f := range frames {
		out[i] = Sample{Data: f.Data, Keyframe: f.Keyframe, Time: f.Time}
	}
	return out
}

// captureTest records d of the videotest camera through a real Stream.
func captureTest(t *testing.T, d time.Duration) []capture.Frame {
	t.Helper()
	// 1 Mbps: the videotest driver's noise patch costs ~10 KB a frame, so
	// at the default 150 kbps the stream keeps only ~2 fps of it.
	s, err := capture.OpenCamera(context.Background(), capture.Config{Source: "test", BitrateKbps: 1000}, nil)
	if errors.Is(err, capture.ErrUnsupported) {
		t.Fatal("no H.264 encoder in this build: the project builds with cgo (scripts/setup.sh installs gcc); CGO_ENABLED=0 has no openh264")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	defer cancel()
	var frames []capture.Frame
	for len(frames) == 0 || frames[len(frames)-1].Time.Sub(frames[0].Time) < d {
		f, err := s.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	return frames
}

// encodeScene produces frames of a moving gradient faster than real time
// through capture.Encoder (the streams' pipeline) at size w×h, 15 fps,
// 500 kbps (enough that the bitrate ceiling keeps every frame).
func encodeScene(t testing.TB, w, h int, d time.Duration, t0 time.Time) []capture.Frame {
	t.Helper()
	e, err := capture.NewEncoder(capture.Config{BitrateKbps: 500}, false, nil)
	if errors.Is(err, capture.ErrUnsupported) {
		t.Fatal("no H.264 encoder in this build: the project builds with cgo (scripts/setup.sh installs gcc); CGO_ENABLED=0 has no openh264")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	var frames []capture.Frame
	for i := 0; time.Duration(i)*time.Second/15 < d; i++ {
		// Moving gradient with a little noise: cheap, and not static.
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				img.Y[y*img.YStride+x] = uint8(x + y + 2*i + (x*y)%7)
			}
		}
		f, ok, err := e.Encode(img, t0.Add(time.Duration(i)*time.Second/15))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			frames = append(frames, f)
		}
	}
	return frames
}

// fullSamples decodes every sample of a recording with mp4ff.
func fullSamples(t *testing.T, path string) []mp4.FullSample {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	file, err := mp4.DecodeFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []mp4.FullSample
	trex := file.Init.Moov.Mvex.Trex
	for _, seg := range file.Segments {
		for _, frag := range seg.Fragments {
			fs, err := frag.GetFullSamples(trex)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fs...)
		}
	}
	return out
}

type probeResult struct {
	frames   int
	duration float64
	w, h     int
}

// ffprobe decodes every frame of an MP4 file.
func ffprobe(t *testing.T, path string) probeResult {
	t.Helper()
	needFFprobe(t)
	cmd := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,width,height:format=duration", "-of", "default=nw=1", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("ffprobe reported errors: %s", stderr.String())
	}
	var r probeResult
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "nb_read_frames":
			r.frames, _ = strconv.Atoi(v)
		case "duration":
			r.duration, _ = strconv.ParseFloat(v, 64)
		case "width":
			r.w, _ = strconv.Atoi(v)
		case "height":
			r.h, _ = strconv.Atoi(v)
		}
	}
	return r
}

// saved simulates storing a State in the backend's database.
func saved(t *testing.T, st State) State {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var out State
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRecordCaptureStreamAcrossCrash(t *testing.T) {
	frames := captureTest(t, 4*time.Second)
	if len(frames) < 20 {
		t.Fatalf("only %d frames captured", len(frames))
	}
	samples := toSamples(frames)
	// Two P frames first: nothing before the first keyframe can be placed.
	var pre []Sample
	for _, s := range samples[1:] {
		if !s.Keyframe && len(pre) < 2 {
			s.Time = samples[0].Time.Add(-time.Duration(2-len(pre)) * 50 * time.Millisecond)
			pre = append(pre, s)
		}
	}
	path := filepath.Join(t.TempDir(), "camera.mp4")
	w, err := Open(path, State{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(pre); err != nil {
		t.Fatal(err)
	}
	st := saved(t, w.State())
	if st.Dropped != 2 || st.Committed != 0 || st.Frames != 0 {
		t.Fatalf("after leading P frames: %+v, want 2 dropped and nothing written", st)
	}

	batches := [][]Sample{}
	for i := 0; i < len(samples); i += 7 {
		batches = append(batches, samples[i:min(i+7, len(samples))])
	}
	crashAt := len(batches) / 2
	for i, b := range batches[:crashAt] {
		if err := w.Write(b); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		st = saved(t, w.State())
	}
	// Crash: one more fragment reaches the disk but its State is never
	// stored, and a torn write leaves garbage after it.
	if err := w.Write(batches[crashAt]); err != nil {
		t.Fatal(err)
	}
	w.Close()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("\x00\x00\x10\x00moof-torn-garbage-from-a-crash"))
	f.Close()
	// The file is still readable up to its last complete fragment.
	torn, err := Probe(path)
	if err != nil {
		t.Fatalf("probe with torn tail: %v", err)
	}
	if torn.Bytes >= torn.FileSize {
		t.Errorf("torn tail not detected: %+v", torn)
	}

	// Restart from the stored State: the unrecorded fragment and the
	// garbage go, the batch is written again, and the rest follows.
	w, err = Open(path, st)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i, b := range batches[crashAt:] {
		if err := w.Write(b); err != nil {
			t.Fatalf("batch %d after restart: %v", crashAt+i, err)
		}
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	st = w.State()

	wantDur := frames[len(frames)-1].Time.Sub(frames[0].Time).Seconds() + float64(st.LastDuration)/Timescale
	if st.Frames != int64(len(frames)) || st.Dropped != 2 {
		t.Errorf("state: %d frames, %d dropped; want %d and 2", st.Frames, st.Dropped, len(frames))
	}
	if st.Codec == "" || st.Width != 640 || st.Height != 480 {
		t.Errorf("state track: %q %dx%d", st.Codec, st.Width, st.Height)
	}
	info, err := Probe(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Frames != len(frames) || info.Bytes != info.FileSize || info.Fragments != len(batches) || info.Width != 640 {
		t.Errorf("Probe = %+v, want %d frames in %d fragments, no tail", info, len(frames), len(batches))
	}
	if d := info.Duration.Seconds(); math.Abs(d-wantDur)/wantDur > 0.05 {
		t.Errorf("Probe duration %.3f s, want %.3f ±5%%", d, wantDur)
	}
	r := ffprobe(t, path)
	if r.frames != len(frames) || r.w != 640 || r.h != 480 {
		t.Errorf("ffprobe: %d frames %dx%d, want %d of 640x480", r.frames, r.w, r.h, len(frames))
	}
	if math.Abs(r.duration-wantDur)/wantDur > 0.05 {
		t.Errorf("ffprobe duration %.3f s, want %.3f ±5%%", r.duration, wantDur)
	}
	t.Logf("%d frames, %d keyframes, %.2f s, %d bytes, codec %s", info.Frames, info.Keyframes, info.Duration.Seconds(), info.Bytes, info.Codec)
}

func TestDecodeTimesFollowCaptureTimes(t *testing.T) {
	needFFprobe(t)
	t0 := time.Unix(1_700_000_000, 0)
	frames := encodeScene(t, 320, 240, 4*time.Second, t0)
	// A 1.5 s capture gap (the client paused) and a duplicate timestamp.
	for i := len(frames) / 2; i < len(frames); i++ {
		frames[i].Time = frames[i].Time.Add(1500 * time.Millisecond)
	}
	frames[3].Time = frames[2].Time
	path := filepath.Join(t.TempDir(), "t.mp4")
	w, err := Open(path, State{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	samples := toSamples(frames)
	for i := 0; i < len(samples); i += 10 {
		if err := w.Write(samples[i:min(i+10, len(samples))]); err != nil {
			t.Fatal(err)
		}
	}
	if st := w.State(); st.ClampedTimes != 1 {
		t.Errorf("ClampedTimes = %d, want 1", st.ClampedTimes)
	}
	// ffmpeg's decode times are the capture offsets.
	cmd := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=dts", "-of", "csv=p=0", path)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(frames) {
		t.Fatalf("%d packets, want %d", len(lines), len(frames))
	}
	for i, l := range lines {
		dts, _ := strconv.ParseInt(l, 10, 64)
		want := int64(durationToTicks(frames[i].Time.Sub(frames[0].Time)))
		if i == 3 {
			want++ // moved one tick after its twin
		}
		if d := dts - want; d < -1 || d > 1 {
			t.Fatalf("packet %d dts %d, want capture offset %d ticks", i, dts, want)
		}
	}
	// No holes (ffprobe does not print trun durations): each sample lasts
	// until the next one, across the 1.5 s pause and fragment boundaries.
	full := fullSamples(t, path)
	for i := 1; i < len(full); i++ {
		if end := full[i-1].DecodeTime + uint64(full[i-1].Dur); end != full[i].DecodeTime {
			t.Fatalf("sample %d starts at %d, previous one ends at %d", i, full[i].DecodeTime, end)
		}
	}
}

func TestResolutionChangeStaysDecodable(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	a := encodeScene(t, 640, 480, 2*time.Second, t0)
	b := encodeScene(t, 320, 240, 2*time.Second, t0.Add(3*time.Second)) // a restarted encoder
	path := filepath.Join(t.TempDir(), "r.mp4")
	w, err := Open(path, State{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write(toSamples(a)); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(toSamples(b)); err != nil {
		t.Fatal(err)
	}
	st := w.State()
	if st.InbandParams == 0 || st.Width != 640 {
		t.Errorf("state after the change: %+v", st)
	}
	if r := ffprobe(t, path); r.frames != len(a)+len(b) {
		t.Errorf("ffprobe decoded %d frames, want %d", r.frames, len(a)+len(b))
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	frames := encodeScene(t, 160, 120, time.Second, time.Unix(0, 0))
	path := filepath.Join(dir, "a.mp4")
	w, err := Open(path, State{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(toSamples(frames)); err != nil {
		t.Fatal(err)
	}
	st := w.State()
	w.Close()
	if err := w.Write(toSamples(frames)); err == nil {
		t.Error("write after close succeeded")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if err := os.Truncate(path, st.Committed-10); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, st); !errors.Is(err, ErrCorrupt) {
		t.Errorf("file shorter than its state: %v, want ErrCorrupt", err)
	}
	bad := st
	bad.SPS = nil
	if _, err := Open(path, bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("state without SPS: %v, want ErrCorrupt", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.mp4"), st); err == nil {
		t.Error("opened a missing file with a non-zero state")
	}
}

func TestJunkSamplesAreDropped(t *testing.T) {
	frames := encodeScene(t, 160, 120, time.Second, time.Unix(0, 0))
	samples := toSamples(frames)
	junk := []Sample{
		{Data: nil, Time: samples[0].Time},
		{Data: []byte{0, 0, 0, 1, 0x09, 0xf0}, Time: samples[0].Time}, // AUD only
		{Data: []byte("not annex b at all"), Time: samples[0].Time},
	}
	path := filepath.Join(t.TempDir(), "j.mp4")
	w, err := Open(path, State{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write(append(junk, samples...)); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(junk); err != nil {
		t.Fatal(err)
	}
	st := w.State()
	if st.Dropped != 6 || st.Frames != int64(len(samples)) {
		t.Errorf("dropped %d, frames %d; want 6 and %d", st.Dropped, st.Frames, len(samples))
	}
	if err := w.Write(nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	if w.State().NextSeq != st.NextSeq {
		t.Error("empty batch wrote a fragment")
	}
}

// TestTailPatchedInOneWrite checks the one-write path (Writer.tail): the
// file is byte for byte what patching in a write of its own gives, for
// batches small enough to keep the tail and too large to, across a reopen;
// and a kept tail is always the file's bytes from the last duration field
// to the end.
func TestTailPatchedInOneWrite(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	samples := toSamples(encodeScene(t, 320, 240, 12*time.Second, t0))
	// Jitter and a pause: a fragment's guessed last duration is wrong, so
	// every patch changes the file.
	for i := range samples {
		samples[i].Time = samples[i].Time.Add(time.Duration(i*i%11) * time.Millisecond)
		if i > len(samples)/3 {
			samples[i].Time = samples[i].Time.Add(time.Second)
		}
	}
	// Batch sizes: mostly small (one write), two huge ones (over maxTail:
	// two writes), and a reopen half-way (the tail is not known then).
	sizes := []int{1, 2, 3, 1, 5, 60, 2, 1, 4, 90, 1, 3}
	dir := t.TempDir()
	write := func(name string, keepTail bool) []byte {
		path := filepath.Join(dir, name)
		w, err := Open(path, State{})
		if err != nil {
			t.Fatal(err)
		}
		kept := 0
		at := 0
		for i := 0; at < len(samples); i++ {
			n := sizes[i%len(sizes)]
			if i == len(sizes)/2 {
				st := saved(t, w.State())
				w.Close()
				if w, err = Open(path, st); err != nil {
					t.Fatal(err)
				}
			}
			if !keepTail {
				w.tail = nil
			}
			if err := w.Write(samples[at:min(at+n, len(samples))]); err != nil {
				t.Fatal(err)
			}
			at += n
			if w.tail != nil {
				kept++
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(w.tail, b[w.st.LastDurationAt:]) || int64(len(b)) != w.st.Committed {
					t.Fatalf("write %d: the kept tail is not the file's end", i)
				}
			}
		}
		w.Close()
		if keepTail && kept == 0 {
			t.Fatal("no write kept its tail")
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	one, two := write("one.mp4", true), write("two.mp4", false)
	if !bytes.Equal(one, two) {
		t.Fatalf("patching in the fragment's write gives another file (%d bytes) than patching apart (%d bytes)", len(one), len(two))
	}
	full := fullSamples(t, filepath.Join(dir, "one.mp4"))
	if len(full) != len(samples) {
		t.Fatalf("%d samples in the file, want %d", len(full), len(samples))
	}
	for i := 1; i < len(full); i++ {
		if end := full[i-1].DecodeTime + uint64(full[i-1].Dur); end != full[i].DecodeTime {
			t.Fatalf("sample %d starts at %d, previous one ends at %d", i, full[i].DecodeTime, end)
		}
	}
}

// BenchmarkWriterWrite: the backend's store of a camera track at 1,000
// sessions, a few frames per write (a 640×480 stream, three frames a
// batch). Run with -benchmem: allocations per write are what a thousand
// sessions multiply.
func BenchmarkWriterWrite(b *testing.B) {
	t0 := time.Unix(1_700_000_000, 0)
	samples := toSamples(encodeScene(b, 640, 480, 4*time.Second, t0))
	w, err := Open(filepath.Join(b.TempDir(), "camera.mp4"), State{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	const batch = 3
	span := samples[len(samples)-1].Time.Sub(samples[0].Time) + time.Second/15
	b.ReportAllocs()
	b.ResetTimer()
	at := 0
	for i := 0; b.Loop(); i++ {
		if at+batch > len(samples) {
			// Go on in time: the writer clamps times that go back.
			for j := range samples {
				samples[j].Time = samples[j].Time.Add(span)
			}
			at = 0
		}
		if err := w.Write(samples[at : at+batch]); err != nil {
			b.Fatal(err)
		}
		at += batch
	}
}
