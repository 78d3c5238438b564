package main

// End-to-end recording tests: camera (mediadevices' videotest driver) and
// screen (a real Xvfb display with moving content) streamed by the real
// client to the real backend, and the MP4 files checked with ffprobe.

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/backend"
	"github.com/invigil/invigil/capture/xvfb/xvfbtest"
)

// probe is what ffprobe says of a recording's video stream.
type probe struct {
	Frames   int
	Duration float64 // seconds
	Width    int
	Height   int
	Bytes    int64
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	// -count_frames decodes every frame; a decoding error is printed on
	// stderr at -v error.
	cmd := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,width,height:format=duration,size", "-of", "json", path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, stderr.String())
	}
	var r struct {
		Streams []struct {
			Frames        string `json:"nb_read_frames"`
			Width, Height int
		}
		Format struct{ Duration, Size string }
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 {
		t.Fatalf("ffprobe %s: %s %v", path, out, err)
	}
	var p probe
	p.Frames, _ = strconv.Atoi(r.Streams[0].Frames)
	p.Width, p.Height = r.Streams[0].Width, r.Streams[0].Height
	p.Duration, _ = strconv.ParseFloat(r.Format.Duration, 64)
	p.Bytes, _ = strconv.ParseInt(r.Format.Size, 10, 64)
	return p
}

func within(got, want, frac float64) bool { return math.Abs(got-want) <= want*frac }

// startMovingScreen starts Xvfb and an ffplay window showing a moving test
// pattern over the whole screen, so that screen capture has content to
// encode. It returns the DISPLAY value.
func startMovingScreen(t *testing.T) string {
	t.Helper()
	for _, bin := range []string{"Xvfb", "ffplay", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not installed: run scripts/setup.sh", bin)
		}
	}
	display := xvfbtest.Start(t, "1280x720x24")
	play := exec.Command("ffplay", "-loglevel", "quiet", "-nostats", "-an", "-noborder", "-left", "0", "-top", "0",
		"-f", "lavfi", "-i", "testsrc2=s=1280x720:r=10")
	play.Env = append(os.Environ(), "DISPLAY="+display, "SDL_VIDEODRIVER=x11", "SDL_AUDIODRIVER=dummy")
	startCmd(t, play)
	time.Sleep(time.Second) // the window maps
	return display
}

// recordingData makes a backend data directory whose exam E2E records the
// camera at 1 Mbps: mediadevices' videotest picture carries fresh noise in
// every frame, which openh264 cannot fit in the default 150 kbps without
// dropping most frames (capture/doc.go). The screen keeps the default 80 kbps.
func recordingData(t *testing.T) string {
	t.Helper()
	return examData(t, "recording", "E2E", "testdata/recording-policy.json")
}

// recordingArgs are clientArgs with capture on: the videotest camera and
// every display of the Xvfb screen.
func recordingArgs(server, spool string, d time.Duration) []string {
	args := clientArgs(server, spool, d, "--heartbeat-rate", "1")
	args[slices.Index(args, "--camera")+1] = "test"
	args[slices.Index(args, "--screen")+1] = "all"
	return args
}

func mediaTracks(t *testing.T, data, session string) map[string]backend.TrackInfo {
	t.Helper()
	b, err := backend.Open(backend.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ss, err := b.ListSessions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]backend.TrackInfo{}
	for _, s := range ss {
		if s.ID != session {
			continue
		}
		for _, tr := range s.Tracks {
			if tr.Kind == "media" {
				out[tr.Name] = tr
			}
		}
	}
	return out
}

// TestE2ERecording20s records 20 s of camera and screen and checks the MP4
// files with ffprobe: they decode, hold the frames that were sent and last as
// long as the capture did (±5 %), at the target bitrates (±20 %).
func TestE2ERecording20s(t *testing.T) {
	display := startMovingScreen(t)
	be := startBackend(t, recordingData(t), "127.0.0.1:0")
	cmd, out, errb := startClientEnv(t, []string{"DISPLAY=" + display}, recordingArgs(be.url(), t.TempDir(), 20*time.Second)...)
	r := waitClient(t, cmd, out, errb)
	be.kill()
	verifyExactlyOnce(t, be.data, r)

	tracks := mediaTracks(t, be.data, r.summary.SessionID)
	targets := map[string]float64{"camera": 1000, "screen": 80} // kbps, testdata/recording-policy.json
	for name, kbps := range targets {
		tr, ok := tracks[name]
		if !ok {
			t.Fatalf("no %s track stored", name)
		}
		p := ffprobe(t, tr.File)
		sent := float64(r.summary.ThisRun[name])
		rate := float64(p.Bytes) * 8 / p.Duration / 1000
		t.Logf("%s: sent %.0f frames, file %d frames, %.2f s, %dx%d, %.0f kbps (target %.0f)", name, sent, p.Frames, p.Duration, p.Width, p.Height, rate, kbps)
		if !within(float64(p.Frames), sent, 0.05) {
			t.Errorf("%s: %d frames in the file, %.0f sent", name, p.Frames, sent)
		}
		// The duration sent is the span of the capture times; the lower
		// bound is a sanity check that capture ran for most of the run.
		if !within(p.Duration, tr.Duration.Seconds(), 0.05) || p.Duration < 16 {
			t.Errorf("%s: file lasts %.2f s; capture spanned %.2f s of a 20 s run", name, p.Duration, tr.Duration.Seconds())
		}
		if !within(rate, kbps, 0.20) {
			t.Errorf("%s: %.0f kbps, target %.0f ±20 %%", name, rate, kbps)
		}
	}
}

// TestE2ERecordingSurvivesBackendKill kills the backend mid-recording; after
// the restart the MP4 files still play and hold every frame the client sent.
func TestE2ERecordingSurvivesBackendKill(t *testing.T) {
	display := startMovingScreen(t)
	data := recordingData(t)
	be := startBackend(t, data, "127.0.0.1:0")
	cmd, out, errb := startClientEnv(t, []string{"DISPLAY=" + display}, recordingArgs(be.url(), t.TempDir(), 10*time.Second)...)
	time.Sleep(4 * time.Second)
	be.kill()
	time.Sleep(1500 * time.Millisecond)
	be = startBackend(t, data, be.addr)
	r := waitClient(t, cmd, out, errb)
	be.kill()
	verifyExactlyOnce(t, data, r)
	for name, tr := range mediaTracks(t, data, r.summary.SessionID) {
		p := ffprobe(t, tr.File)
		if sent := r.summary.ThisRun[name]; p.Frames != sent || tr.Dropped != 0 {
			t.Errorf("%s: %d frames in the file (%d dropped), %d sent", name, p.Frames, tr.Dropped, sent)
		}
	}
}
