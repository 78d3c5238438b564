package backend

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/invigil/invigil/internal/browsertest"
)

// newBrowser starts a headless Chromium for one test; it ends with the test.
func newBrowser(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	return browsertest.New(t, timeout)
}

// waitJS evaluates a boolean expression until it is true.
func waitJS(t testing.TB, ctx context.Context, what, expr string, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(end) {
			errs, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({error: document.getElementById("error") && document.getElementById("error").textContent, live: window.__invigilLive})`))
			t.Fatalf("timed out after %v waiting for %s (page: %.600s)", d, what, errs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openLive logs name in through the login page and opens the exam's grid.
func (e *gridEnv) openLive(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	next := "/live?exam=" + url.QueryEscape(e.exam.ID)
	err := chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/login?next="+url.QueryEscape(next)),
		chromedp.WaitVisible(`input[name=name]`),
		chromedp.SetValue(`input[name=name]`, name),
		chromedp.SetValue(`input[name=password]`, e.pw),
		chromedp.Click(`button[type=submit]`),
		chromedp.WaitVisible(`#grid`),
	)
	if err != nil {
		t.Fatalf("log in and open the live grid: %v", err)
	}
}

// pageShot saves a screenshot of the page into $INVIGIL_SCREENSHOTS (for
// the docs), when it is set.
func pageShot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("INVIGIL_SCREENSHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
		t.Error(err)
	}
}

func canvasFrames(sel string) string {
	return `Number((document.querySelector(` + jsString(sel) + `) || {dataset: {}}).dataset.frames || 0)`
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }

func screenshot(t testing.TB, ctx context.Context, sel string) image.Image {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.Screenshot(sel, chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("screenshot %s: %v", sel, err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// changedShare is the share of pixels that differ noticeably.
func changedShare(a, b image.Image) float64 {
	r := a.Bounds().Intersect(b.Bounds())
	changed, all := 0, 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			d := max(absDiff(r1, r2), absDiff(g1, g2), absDiff(b1, b2)) >> 8
			if d > 24 {
				changed++
			}
			all++
		}
	}
	if all == 0 {
		return 0
	}
	return float64(changed) / float64(all)
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// The live grid in Chromium against a real backend and two headless
// clients streaming H.264: tiles show moving video within 2 s; a session
// opened big shows camera and screen; a warning typed in the page reaches
// the client and the page shows its acknowledgement; chat round-trips; a
// snapshot shows its still; pause and end reach the client.
func TestLiveBrowser(t *testing.T) {
	e := newGridEnv(t)
	a := startStreamer(t, e.srv.URL, streamOpts{})
	b := startStreamer(t, e.srv.URL, streamOpts{})
	waitFor(t, "both clients connected", 10*time.Second, func() bool {
		return e.b.live.info(a.id).connected && e.b.live.info(b.id).connected
	})
	// Unloaded, the test takes about 40 s; the timeout leaves room for a
	// loaded machine under the race detector.
	ctx := newBrowser(t, 150*time.Second)
	start := time.Now()
	phase := func(what string) { t.Logf("%5.1f s: %s", time.Since(start).Seconds(), what) }
	e.openLive(t, ctx, "paul")
	phase("logged in, grid open")

	tileA := `.tile[data-session="` + a.id + `"] canvas`
	tileB := `.tile[data-session="` + b.id + `"] canvas`
	waitJS(t, ctx, "both tiles playing", canvasFrames(tileA)+` > 5 && `+canvasFrames(tileB)+` > 5`, 15*time.Second)
	first, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`window.__invigilLive.firstFrame`))
	if err != nil {
		t.Fatal(err)
	}
	for _, ms := range first {
		if ms > 2000 {
			t.Errorf("a tile took %.0f ms to its first picture (want ≤ 2 s): %v", ms, first)
		}
	}
	t.Logf("first picture after %v ms", first)

	phase("tiles playing")
	pageShot(t, ctx, "dashboard-live-grid.png")
	// Two screenshots a second apart differ. Headless Chromium now and
	// then hands out the same composited frame twice (about one run in
	// three on a loaded machine): a few tries, each a fresh pair.
	var share float64
	for try := 0; try < 5 && share < 0.005; try++ {
		shot1 := screenshot(t, ctx, tileA)
		time.Sleep(time.Second)
		shot2 := screenshot(t, ctx, tileA)
		share = changedShare(shot1, shot2)
	}
	if share < 0.005 {
		t.Errorf("the tile's canvas did not move: %.2f%% of its pixels changed in a second", share*100)
	} else {
		t.Logf("%.1f%% of the tile's pixels changed in a second", share*100)
	}

	phase("moving video checked")
	// Open session a big: camera and screen play.
	if err := chromedp.Do(ctx, chromedp.Click(`.tile[data-session="`+a.id+`"]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "camera and screen big", canvasFrames(`#big-camera`)+` > 3 && `+canvasFrames(`#big-screen`)+` > 1`, 10*time.Second)
	if open, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("detail").open`)); err != nil || !open {
		t.Fatalf("the session's dialog is not open: %v", err)
	}

	phase("session open big")
	// Warn: reaches the client, which acknowledges; the page shows it.
	const warning = "Face the camera."
	// SetValue, not SendKeys: typing key by key takes seconds on a loaded
	// machine under the race detector; the page reads the field's value.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(`#warn-text`, warning),
		chromedp.Click(`#warn-form button[type=submit]`),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the warning acknowledged in the page", `!!document.querySelector('#commands li[data-command="warn"][data-state="acknowledged"]')`, 15*time.Second)
	if got := a.commands("warn"); len(got) != 1 || got[0].Text != warning {
		t.Errorf("the client got warnings %+v", got)
	}

	phase("warning acknowledged")
	if ls, err := e.b.liveSessions(context.Background(), e.exam.ID); err == nil {
		for _, s := range ls {
			for _, c := range s.Commands {
				t.Logf("command %s: created %s, delivered +%v, acked +%v, answered +%v (last stored seq %d, backlog %d)", c.Command, c.At.Format("15:04:05.000"),
					c.Delivered.Sub(c.At).Round(time.Millisecond), c.Acked.Sub(c.At).Round(time.Millisecond), c.AnsweredAt.Sub(c.At).Round(time.Millisecond), s.LastSeq, s.Backlog)
			}
		}
	}
	// Chat both ways.
	const msg = "Hello?"
	if err := chromedp.Do(ctx,
		chromedp.SetValue(`#chat-text`, msg),
		chromedp.Click(`#chat-form button[type=submit]`),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the student's reply in the chat", `[...document.querySelectorAll('#chat-log li.student .text')].some(e => e.textContent === "reply: `+msg+`")`, 15*time.Second)
	if got := a.commands("chat"); len(got) != 1 || got[0].Text != msg {
		t.Errorf("the client got chat %+v", got)
	}

	phase("chat round-trip")
	// Snapshot: the still shows.
	if err := chromedp.Do(ctx, chromedp.Click(`#snapshot`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the snapshot's still", `[...document.querySelectorAll('#stills img')].some(i => i.complete && i.naturalWidth === 320)`, 15*time.Second)

	phase("snapshot shown")
	pageShot(t, ctx, "dashboard-live-session.png")
	// Pause, then end with a reason (the confirm dialog).
	if err := chromedp.Do(ctx, chromedp.Click(`#pause`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "pause done by the client", `!!document.querySelector('#commands li[data-command="pause"][data-state="acked"]') && !document.getElementById("resume").disabled`, 15*time.Second)
	if err := chromedp.Do(ctx,
		chromedp.Click(`#end`),
		chromedp.WaitVisible(`#end-reason`),
		chromedp.SetValue(`#end-reason`, "Talking to someone off camera"),
		chromedp.Click(`#end-confirm`),
	); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "end done by the client", `!!document.querySelector('#commands li[data-command="end"][data-state="acked"]')`, 15*time.Second)
	phase("paused and ended")
	if got := a.commands("end"); len(got) != 1 || got[0].Text != "Talking to someone off camera" {
		t.Errorf("the client got end %+v", got)
	}
	if got := b.commands("warn"); len(got) != 0 {
		t.Errorf("the other session got %+v", got)
	}
	errs, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__invigilLive.errors`))
	if len(errs) > 0 {
		t.Errorf("decoder errors: %v", errs)
	}
}

// BenchmarkLiveGlassToGlass measures the delay from capture to picture on
// loopback: a headless client encodes a synthetic picture (openh264) and
// stamps each access unit with its capture time (the wall clock when the
// raw frame was made, carried in the frame header); the client spools it
// (fsync), uploads it, the backend stores it durably (fsync + SQLite
// commit) and relays it over the live socket; Chromium decodes it with
// WebCodecs and draws it on the tile's canvas, where the page records
// now − capture time per frame (same machine, same clock). It prints the
// median, 95th percentile and maximum over the frames drawn in 10 s
// after a 3 s warm-up, and the time from opening a tile to its first
// picture.
func BenchmarkLiveGlassToGlass(b *testing.B) {
	e := newGridEnv(b)
	st := startStreamer(b, e.srv.URL, streamOpts{})
	waitFor(b, "connected", 10*time.Second, func() bool { return e.b.live.info(st.id).connected })
	ctx := newBrowser(b, 120*time.Second)
	e.openLive(b, ctx, "paul")
	waitJS(b, ctx, "the tile playing", canvasFrames(`.tile canvas`)+` > 5`, 15*time.Second)
	var lat, first []float64
	for b.Loop() {
		time.Sleep(3 * time.Second)
		chromedp.Run(ctx, chromedp.Evaluate[int](`window.__invigilLive.latencies.length = 0`))
		time.Sleep(10 * time.Second)
		var err error
		if lat, err = chromedp.Run(ctx, chromedp.Evaluate[[]float64](`window.__invigilLive.latencies`)); err != nil {
			b.Fatal(err)
		}
		if first, err = chromedp.Run(ctx, chromedp.Evaluate[[]float64](`window.__invigilLive.firstFrame`)); err != nil {
			b.Fatal(err)
		}
	}
	if len(lat) == 0 {
		b.Fatal("no frames drawn")
	}
	slices.Sort(lat)
	p := func(q float64) float64 { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	b.ReportMetric(p(0.5), "ms-p50")
	b.ReportMetric(p(0.95), "ms-p95")
	b.ReportMetric(lat[len(lat)-1], "ms-max")
	fmt.Printf("live glass-to-glass on loopback (capture time stamped by the client → drawn on the canvas, %d frames): p50 %.0f ms, p95 %.0f ms, max %.0f ms; first picture after opening a tile: %v ms\n",
		len(lat), p(0.5), p(0.95), lat[len(lat)-1], first)
}

// BenchmarkLiveGrid50 measures how the page copes with 50 sessions: 50
// headless clients stream a camera (640×480, 15 fps, H.264, a keyframe
// every 2 s; one clip encoded once and replayed by every client with
// fresh capture times, so that 50 encoders do not starve the browser) and the
// grid shows all 50 tiles in a 1280×900 window. Only the tiles on screen
// decode. It prints the page's animation frame rate and its long frames
// (over 50 ms) over 10 s, how many videos decode, the frames drawn per
// second, and how long a tile scrolled into view takes to its picture.
func BenchmarkLiveGrid50(b *testing.B) {
	const n = 50
	e := newGridEnv(b)
	clip := encodeClip(b, 640, 480, 150)
	var ss []*streamer
	for range n {
		ss = append(ss, startStreamer(b, e.srv.URL, streamOpts{cameraOnly: true, replay: clip}))
	}
	waitFor(b, "all connected", 30*time.Second, func() bool {
		for _, s := range ss {
			if !e.b.live.info(s.id).connected {
				return false
			}
		}
		return true
	})
	ctx := newBrowser(b, 180*time.Second)
	e.openLive(b, ctx, "paul")
	waitJS(b, ctx, "50 tiles", `document.querySelectorAll(".tile").length === 50`, 20*time.Second)
	waitJS(b, ctx, "the first tile playing", canvasFrames(`.tile canvas`)+` > 5`, 20*time.Second)
	type figures struct {
		FPS      float64 `json:"fps"`
		Long     int     `json:"long"`
		Worst    float64 `json:"worst"`
		Open     int     `json:"open"`
		Drawn    float64 `json:"drawn"`
		Visible  int     `json:"visible"`
		Scrolled float64 `json:"scrolled"`
	}
	var f figures
	for b.Loop() {
		time.Sleep(2 * time.Second)
		var err error
		f, err = chromedp.Run(ctx, chromedp.Evaluate[figures](`new Promise((done) => {
			const gaps = []; let last = performance.now(); const f0 = window.__invigilLive.frames; const t0 = last;
			function tick(t) {
				gaps.push(t - last); last = t;
				if (t - t0 < 10000) { requestAnimationFrame(tick); return; }
				const vis = [...document.querySelectorAll(".tile")].filter((e) => { const r = e.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; }).length;
				const before = window.__invigilLive.firstFrame.length;
				const lastTile = document.querySelectorAll(".tile")[49];
				const s0 = performance.now();
				lastTile.scrollIntoView();
				const wait = () => {
					const c = lastTile.querySelector("canvas");
					if (Number(c.dataset.frames || 0) > 0 || performance.now() - s0 > 10000) {
						done({fps: gaps.length / ((t - t0) / 1000), long: gaps.filter((g) => g > 50).length, worst: Math.max(...gaps),
							open: window.__invigilLive.open, drawn: (window.__invigilLive.frames - f0) / ((t - t0) / 1000), visible: vis,
							scrolled: performance.now() - s0});
						return;
					}
					setTimeout(wait, 10);
				};
				wait();
			}
			requestAnimationFrame(tick);
		})`, chromedp.EvalAwaitPromise))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(f.FPS, "page-fps")
	b.ReportMetric(float64(f.Long), "long-frames/10s")
	b.ReportMetric(f.Drawn, "video-frames/s")
	fmt.Printf("50 tiles: %d visible and decoding (%d decoders open), page %.0f fps, %d animation frames over 50 ms in 10 s (worst %.0f ms), %.0f video frames drawn/s; a tile scrolled into view showed its picture after %.0f ms\n",
		f.Visible, f.Open, f.FPS, f.Long, f.Worst, f.Drawn, f.Scrolled)
}
