package capture

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func needEncoder(t *testing.T) {
	t.Helper()
	if !encoderAvailable {
		t.Fatal("no H.264 encoder in this build: the project builds with cgo (scripts/setup.sh installs gcc); CGO_ENABLED=0 has no openh264")
	}
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not installed: scripts/setup.sh installs it", name)
	}
}

// readFor reads frames for d of capture time (measured on Frame.Time).
func readFor(t *testing.T, s *Stream, d time.Duration) []Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	defer cancel()
	var frames []Frame
	for {
		f, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("read after %d frames: %v", len(frames), err)
		}
		frames = append(frames, f)
		if f.Time.Sub(frames[0].Time) >= d {
			return frames
		}
	}
}

// ffprobeFrames decodes an Annex-B stream with ffprobe and returns the
// number of decoded frames and the picture size.
func ffprobeFrames(t *testing.T, frames []Frame) (n, w, h int) {
	t.Helper()
	needTool(t, "ffprobe")
	var buf bytes.Buffer
	for _, f := range frames {
		buf.Write(f.Data)
	}
	cmd := exec.Command("ffprobe", "-v", "error", "-f", "h264", "-i", "pipe:0", "-count_frames",
		"-select_streams", "v:0", "-show_entries", "stream=nb_read_frames,width,height", "-of", "csv=p=0")
	cmd.Stdin = &buf
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("ffprobe reported decode errors: %s", stderr.String())
	}
	parts := strings.Split(strings.TrimSpace(string(out)), ",")
	if len(parts) != 3 {
		t.Fatalf("ffprobe output %q", out)
	}
	w, _ = strconv.Atoi(parts[0])
	h, _ = strconv.Atoi(parts[1])
	n, _ = strconv.Atoi(parts[2])
	return n, w, h
}

func kbpsOf(frames []Frame) float64 {
	if len(frames) < 2 {
		return 0
	}
	var bytes int
	for _, f := range frames[:len(frames)-1] { // the last frame's duration is unknown
		bytes += len(f.Data)
	}
	return float64(bytes) * 8 / frames[len(frames)-1].Time.Sub(frames[0].Time).Seconds() / 1000
}

func fpsOf(frames []Frame) float64 {
	return float64(len(frames)-1) / frames[len(frames)-1].Time.Sub(frames[0].Time).Seconds()
}

func checkFrames(t *testing.T, frames []Frame, w, h int) {
	t.Helper()
	if !frames[0].Keyframe {
		t.Error("first frame is not a keyframe")
	}
	for i, f := range frames {
		if f.Width != w || f.Height != h {
			t.Fatalf("frame %d is %dx%d, want %dx%d", i, f.Width, f.Height, w, h)
		}
		if i > 0 && !f.Time.After(frames[i-1].Time) {
			t.Fatalf("frame %d time %v not after %v", i, f.Time, frames[i-1].Time)
		}
		types := naluTypes(f.Data)
		if f.Keyframe != isIDR(f.Data) {
			t.Fatalf("frame %d Keyframe=%v, NAL types %v", i, f.Keyframe, types)
		}
		if f.Keyframe && (len(types) < 3 || types[0] != naluSPS || types[1] != naluPPS) {
			t.Fatalf("keyframe %d does not start with SPS, PPS: NAL types %v", i, types)
		}
	}
}

// maxKeyGap returns the longest capture-time gap between keyframes.
func maxKeyGap(frames []Frame) time.Duration {
	var gap time.Duration
	last := frames[0].Time
	for _, f := range frames[1:] {
		if f.Keyframe {
			gap = max(gap, f.Time.Sub(last))
			last = f.Time
		}
	}
	return max(gap, frames[len(frames)-1].Time.Sub(last))
}

func TestVideotestCameraEndToEnd(t *testing.T) {
	needEncoder(t)
	ctx := context.Background()
	s, err := OpenCamera(ctx, Config{Source: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// The videotest driver is one device: a second open is "busy".
	if _, err := OpenCamera(ctx, Config{Source: "test"}, nil); !errors.Is(err, ErrCameraBusy) {
		t.Errorf("second open of the test camera: %v, want ErrCameraBusy", err)
	}

	frames := readFor(t, s, 3*time.Second)
	checkFrames(t, frames, 640, 480)
	n, w, h := ffprobeFrames(t, frames)
	if n != len(frames) || w != 640 || h != 480 {
		t.Errorf("ffprobe decoded %d frames of %dx%d, want %d of 640x480", n, w, h, len(frames))
	}

	snap, err := s.Snapshot(ctx, 320)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(snap))
	if err != nil || cfg.Width != 320 || cfg.Height != 240 {
		t.Errorf("snapshot: %dx%d, %v; want a 320x240 JPEG", cfg.Width, cfg.Height, err)
	}
	st := s.Stats()
	t.Logf("videotest: %d frames, %.1f fps, %.1f kbps, stats %+v", len(frames), fpsOf(frames), kbpsOf(frames), st)
	if st.Paced == 0 {
		t.Error("videotest delivers 30 fps, nothing was paced down to 15")
	}

	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := s.Read(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("read after close: %v, want ErrClosed", err)
	}
	if _, err := s.Snapshot(ctx, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("snapshot after close: %v, want ErrClosed", err)
	}
	// Closed: the device can be opened again.
	s2, err := OpenCamera(ctx, Config{Source: "test"}, nil)
	if err != nil {
		t.Fatalf("reopen test camera: %v", err)
	}
	s2.Close()
}

func TestCameraBitrateAndKeyframes(t *testing.T) {
	needEncoder(t)
	t.Parallel()
	s, err := OpenCamera(context.Background(), Config{Source: "scene"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	frames := readFor(t, s, 10*time.Second)
	checkFrames(t, frames, 640, 480)
	kbps, fps := kbpsOf(frames), fpsOf(frames)
	t.Logf("scene 10 s: %d frames, %.2f fps, %.1f kbps (target 150), key gap %v, stats %+v",
		len(frames), fps, kbps, maxKeyGap(frames), s.Stats())
	if math.Abs(kbps-150)/150 > 0.2 {
		t.Errorf("bitrate %.1f kbps, want 150 ±20%%", kbps)
	}
	if fps < 11 {
		t.Errorf("frame rate %.2f, want close to 15", fps)
	}
	// Keyframes at most every 2 s of capture time (plus a frame period or
	// two of jitter on a loaded machine).
	if gap := maxKeyGap(frames); gap > 2*time.Second+150*time.Millisecond {
		t.Errorf("keyframe gap %v, want <= 2s", gap)
	}
	if n, _, _ := ffprobeFrames(t, frames); n != len(frames) {
		t.Errorf("ffprobe decoded %d of %d frames", n, len(frames))
	}
}

// TestStreamControls checks that a Stream's SetBitrate, SetFrameRate and
// ForceKeyframe reach its pipeline; TestSetBitrateChangesOutput and
// TestSetFrameRateKeepsBitrate measure their effect faster than real time.
func TestStreamControls(t *testing.T) {
	needEncoder(t)
	t.Parallel()
	s, err := OpenCamera(context.Background(), Config{Source: "scene", KeyframeInterval: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	readFor(t, s, 300*time.Millisecond)
	s.SetBitrate(60)
	s.SetFrameRate(5)
	if s.Bitrate() != 60 || s.FrameRate() != 5 {
		t.Errorf("targets %d kbps %g fps, want 60 and 5", s.Bitrate(), s.FrameRate())
	}
	readFor(t, s, 400*time.Millisecond)
	slow := readFor(t, s, 2*time.Second)
	if fps := fpsOf(slow); math.Abs(fps-5) > 1 {
		t.Errorf("frame rate %.2f after SetFrameRate(5)", fps)
	}
	// Built for 15 fps, running at 5: the encoder is asked for 3×60.
	// (less the rate corrector's estimate of the encoder's overshoot).
	if k := s.Stats().EncoderKbps; k < 90 || k > 190 {
		t.Errorf("encoder asked for %d kbps, want 180 or a little less (60 kbps at a third of its frame rate)", k)
	}
	s.SetFrameRate(15)
	readFor(t, s, 200*time.Millisecond)
	s.ForceKeyframe()
	got := false
	for i := 0; i < 3 && !got; i++ {
		f, err := s.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = f.Keyframe
	}
	if !got {
		t.Error("no keyframe within 3 frames of ForceKeyframe")
	}
}

func TestSetBitrateChangesOutput(t *testing.T) {
	needEncoder(t)
	t.Parallel()
	e, err := NewEncoder(Config{BitrateKbps: 300}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	g := newSceneGen(640, 480, 15)
	t0 := time.Unix(1_700_000_000, 0)
	var high, low []Frame
	for i := 0; i < 14*15; i++ {
		if i == 7*15 {
			e.SetBitrate(100)
		}
		f, ok, err := e.Encode(g.frame(i), t0.Add(time.Duration(i)*time.Second/15))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case !ok:
		case i >= 1*15 && i < 7*15:
			high = append(high, f)
		case i >= 8*15: // a second to settle
			low = append(low, f)
		}
	}
	hk, lk := kbpsOf(high), kbpsOf(low)
	t.Logf("300 kbps target: %.1f kbps at %.1f fps; then 100 kbps target: %.1f kbps at %.1f fps; %+v",
		hk, fpsOf(high), lk, fpsOf(low), e.Stats())
	if math.Abs(hk-300)/300 > 0.2 || math.Abs(lk-100)/100 > 0.2 {
		t.Errorf("bitrate did not follow SetBitrate: %.1f (want 300) then %.1f (want 100)", hk, lk)
	}
}

func TestSetFrameRateKeepsBitrate(t *testing.T) {
	needEncoder(t)
	t.Parallel()
	e, err := NewEncoder(Config{}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	g := newSceneGen(640, 480, 15)
	t0 := time.Unix(1_700_000_000, 0)
	var slow []Frame
	for i := 0; i < 12*15; i++ {
		if i == 2*15 {
			e.SetFrameRate(5)
		}
		f, ok, err := e.Encode(g.frame(i), t0.Add(time.Duration(i)*time.Second/15))
		if err != nil {
			t.Fatal(err)
		}
		if ok && i >= 4*15 {
			slow = append(slow, f)
		}
	}
	fps, kbps := fpsOf(slow), kbpsOf(slow)
	t.Logf("at 5 fps: %.2f fps, %.1f kbps; %+v", fps, kbps, e.Stats())
	if math.Abs(fps-5) > 0.3 {
		t.Errorf("frame rate %.2f after SetFrameRate(5)", fps)
	}
	if math.Abs(kbps-150)/150 > 0.2 {
		t.Errorf("bitrate %.1f at 5 fps, want the 150 kbps target kept", kbps)
	}
}

func TestSlowReaderKeepsStreamDecodable(t *testing.T) {
	needEncoder(t)
	t.Parallel()
	s, err := OpenCamera(context.Background(), Config{Source: "scene"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	frames := readFor(t, s, time.Second)
	time.Sleep(3 * time.Second) // the queue (32 frames ≈ 2 s) fills up
	frames = append(frames, readFor(t, s, time.Second)...)
	if s.Stats().Backpressure == 0 {
		t.Error("no raw frames dropped while the reader slept")
	}
	if n, _, _ := ffprobeFrames(t, frames); n != len(frames) {
		t.Errorf("ffprobe decoded %d of %d frames across the stall", n, len(frames))
	}
}

func TestOpenCameraErrors(t *testing.T) {
	needEncoder(t)
	if _, err := OpenCamera(context.Background(), Config{Source: "no-such-camera-xyz"}, nil); !errors.Is(err, ErrNoCamera) && !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown camera: %v, want ErrNoCamera", err)
	}
	devs, err := Cameras()
	if err != nil && !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Cameras: %v", err)
	}
	for _, d := range devs {
		if d.ID == "" || d.Name == "" {
			t.Errorf("camera without ID or name: %+v", d)
		}
		if isTestCameraLabel(d.ID) {
			t.Errorf("Cameras lists the videotest driver: %+v", d)
		}
	}
	t.Logf("cameras on this machine: %+v", devs)
	if len(devs) == 0 {
		if _, err := OpenCamera(context.Background(), Config{}, nil); !errors.Is(err, ErrNoCamera) {
			t.Errorf("default camera with none attached: %v, want ErrNoCamera", err)
		}
	}
	if _, err := OpenCamera(context.Background(), Config{FPS: 1000}, nil); err == nil {
		t.Error("fps 1000 accepted")
	}
}

func isTestCameraLabel(id string) bool { return id == videotestLabel }

func TestNoDisplay(t *testing.T) {
	needEncoder(t)
	t.Setenv("DISPLAY", ":31999") // nothing listens there
	if _, err := Displays(); !errors.Is(err, ErrNoDisplay) {
		t.Errorf("Displays without an X server: %v, want ErrNoDisplay", err)
	}
	if _, err := OpenScreen(context.Background(), Config{Source: "all"}, nil); !errors.Is(err, ErrNoDisplay) && !errors.Is(err, ErrUnsupported) {
		t.Errorf("OpenScreen without an X server: %v, want ErrNoDisplay", err)
	}
	if _, err := OpenScreen(context.Background(), Config{Source: "left"}, nil); !errors.Is(err, ErrNoDisplay) {
		t.Errorf("OpenScreen(\"left\"): %v, want ErrNoDisplay", err)
	}
}

func TestSyntheticScreen(t *testing.T) {
	needEncoder(t)
	t.Parallel()
	s, err := OpenScreen(context.Background(), Config{Source: "test", FPS: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	frames := readFor(t, s, 3*time.Second)
	checkFrames(t, frames, 1280, 720)
	if n, w, h := ffprobeFrames(t, frames); n != len(frames) || w != 1280 || h != 720 {
		t.Errorf("ffprobe: %d frames %dx%d, want %d of 1280x720", n, w, h, len(frames))
	}
	t.Logf("synthetic screen: %d frames, %.1f kbps", len(frames), kbpsOf(frames))
}
