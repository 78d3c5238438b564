//go:build linux

package recording

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/invigil/invigil/capture"
)

// msePage appends the recording to a Media Source Extensions SourceBuffer
// fragment by fragment (as a live viewer would receive it), plays it at 2×
// and posts what the browser saw.
const msePage = `<!doctype html><html><body><video id=v muted playsinline></video><script>
const q = new URLSearchParams(location.search);
const type = 'video/mp4; codecs="' + q.get('codec') + '"';
const out = {type, supported: MediaSource.isTypeSupported(type), errors: []};
function report() { fetch('/result', {method: 'POST', body: JSON.stringify(out)}); }
window.onerror = (m) => { out.errors.push(String(m)); report(); };
(async () => {
  const v = document.getElementById('v');
  const parts = await (await fetch('/parts')).json();
  const ms = new MediaSource();
  v.src = URL.createObjectURL(ms);
  await new Promise(r => ms.addEventListener('sourceopen', r, {once: true}));
  const sb = ms.addSourceBuffer(type);
  sb.addEventListener('error', () => out.errors.push('sourcebuffer error'));
  v.addEventListener('error', () => out.errors.push('video error ' + (v.error && v.error.message)));
  const buf = await (await fetch('/file')).arrayBuffer();
  for (const [a, b] of parts) {
    sb.appendBuffer(buf.slice(a, b));
    await new Promise(r => sb.addEventListener('updateend', r, {once: true}));
  }
  ms.endOfStream();
  out.buffered = [];
  for (let i = 0; i < sb.buffered.length; i++) out.buffered.push([sb.buffered.start(i), sb.buffered.end(i)]);
  v.playbackRate = 2;
  await v.play();
  await new Promise(r => { v.onended = r; setTimeout(r, 20000); });
  out.ended = v.ended;
  out.width = v.videoWidth; out.height = v.videoHeight;
  const pq = v.getVideoPlaybackQuality();
  out.decoded = pq.totalVideoFrames; out.dropped = pq.droppedVideoFrames;
  out.currentTime = v.currentTime;
  report();
})().catch(e => { out.errors.push(String(e)); report(); });
</script></body></html>`

type mseResult struct {
	Type        string      `json:"type"`
	Supported   bool        `json:"supported"`
	Errors      []string    `json:"errors"`
	Buffered    [][]float64 `json:"buffered"`
	Ended       bool        `json:"ended"`
	Width       int         `json:"width"`
	Height      int         `json:"height"`
	Decoded     int         `json:"decoded"`
	Dropped     int         `json:"dropped"`
	CurrentTime float64     `json:"currentTime"`
}

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// fragmentRanges splits a recording into [init, fragment, fragment, ...]
// byte ranges, the way a live viewer receives them.
func fragmentRanges(t *testing.T, data []byte) [][2]int {
	t.Helper()
	var parts [][2]int
	start, pos := 0, 0
	for pos+8 <= len(data) {
		size := int(uint32(data[pos])<<24 | uint32(data[pos+1])<<16 | uint32(data[pos+2])<<8 | uint32(data[pos+3]))
		name := string(data[pos+4 : pos+8])
		pos += size
		if name == "moov" || name == "mdat" {
			parts = append(parts, [2]int{start, pos})
			start = pos
		}
	}
	return parts
}

// playInChromium loads the file at path into headless Chromium through MSE.
func playInChromium(t *testing.T, path, codec string) mseResult {
	t.Helper()
	bin := findChromium()
	if bin == "" {
		t.Fatal("no chromium to check MSE playback: scripts/setup.sh installs the Debian package chromium")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan mseResult, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, msePage) })
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) { w.Write(data) })
	mux.HandleFunc("/parts", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(fragmentRanges(t, data)) })
	mux.HandleFunc("/result", func(w http.ResponseWriter, r *http.Request) {
		var res mseResult
		json.NewDecoder(r.Body).Decode(&res)
		select {
		case results <- res:
		default:
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless=new", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
		"--user-data-dir="+filepath.Join(t.TempDir(), "profile"),
		fmt.Sprintf("%s/?codec=%s", srv.URL, codec))
	// Its own process group: Chromium forks zygote, GPU and renderer
	// processes that must go with it (they write into the profile).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		// Children reparented to init may still be exiting.
		for i := 0; i < 50 && syscall.Kill(-cmd.Process.Pid, 0) == nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}()
	select {
	case res := <-results:
		return res
	case <-ctx.Done():
		t.Fatal("chromium did not report within 60 s")
	}
	return mseResult{}
}

func TestPlaysInChromiumMSE(t *testing.T) {
	if findChromium() == "" {
		t.Fatal("no chromium to check MSE playback: scripts/setup.sh installs the Debian package chromium")
	}
	t0 := time.Unix(1_700_000_000, 0)
	frames := encodeScene(t, 640, 480, 4*time.Second, t0)
	path := filepath.Join(t.TempDir(), "mse.mp4")
	w, err := Open(path, State{})
	if err != nil {
		t.Fatal(err)
	}
	samples := toSamples(frames)
	for i := 0; i < len(samples); i += 8 {
		if err := w.Write(samples[i:min(i+8, len(samples))]); err != nil {
			t.Fatal(err)
		}
	}
	st := w.State()
	w.Close()

	res := playInChromium(t, path, st.Codec)
	t.Logf("chromium: %+v", res)
	if !res.Supported || len(res.Errors) > 0 {
		t.Fatalf("MSE %s: supported=%v errors=%v", res.Type, res.Supported, res.Errors)
	}
	if len(res.Buffered) != 1 {
		t.Errorf("buffered ranges %v, want one contiguous range", res.Buffered)
	}
	if !res.Ended || res.Width != 640 || res.Height != 480 {
		t.Errorf("playback: ended=%v size %dx%d", res.Ended, res.Width, res.Height)
	}
	if res.Decoded < len(frames)*9/10 {
		t.Errorf("decoded %d of %d frames", res.Decoded, len(frames))
	}
}

// TestChromiumFollowsInbandResolutionChange backs the package doc: a
// keyframe with new in-band SPS/PPS switches Chromium's decoder too.
func TestChromiumFollowsInbandResolutionChange(t *testing.T) {
	if findChromium() == "" {
		t.Fatal("no chromium to check MSE playback: scripts/setup.sh installs the Debian package chromium")
	}
	t0 := time.Unix(1_700_000_000, 0)
	a := encodeScene(t, 640, 480, 2*time.Second, t0)
	b := encodeScene(t, 320, 240, 2*time.Second, t0.Add(2*time.Second))
	path := filepath.Join(t.TempDir(), "change.mp4")
	w, err := Open(path, State{})
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range [][]capture.Frame{a[:len(a)/2], a[len(a)/2:], b[:len(b)/2], b[len(b)/2:]} {
		if err := w.Write(toSamples(batch)); err != nil {
			t.Fatal(err)
		}
	}
	st := w.State()
	w.Close()
	res := playInChromium(t, path, st.Codec)
	t.Logf("chromium: %+v", res)
	if len(res.Errors) > 0 || !res.Ended {
		t.Fatalf("playback across the change: ended=%v errors=%v", res.Ended, res.Errors)
	}
	if res.Width != 320 || res.Height != 240 {
		t.Errorf("size at the end %dx%d, want the new 320x240", res.Width, res.Height)
	}
	if n := len(a) + len(b); res.Decoded < n*9/10 {
		t.Errorf("decoded %d of %d frames", res.Decoded, n)
	}
}
