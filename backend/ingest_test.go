package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invigil/invigil/transport"
)

// hostileAU is the attacker's access unit of issue 12, 41 bytes (61 with
// the frame header): an SPS whose num_ref_frames_in_pic_order_cnt_cycle is
// 2^29 + 254, a PPS and an IDR slice. mp4ff v0.51.0's ParseSPSNALUnit sizes
// a []uint from that field and fills it: 4 GiB allocated and written.
var hostileAU = []byte{
	0x00, 0x00, 0x00, 0x01, 0x67, 0x42, 0xc0, 0x1f, 0xd7, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00,
	0x1f, 0xf0, 0x00, 0x00, 0x00, 0x01, 0x68, 0xce, 0x3c, 0x80, 0x00, 0x00, 0x00, 0x01, 0x65, 0x88,
	0x84, 0x00, 0x33, 0xff, 0x12, 0x34, 0x56, 0x78, 0x9a,
}

// validAU is a 16×16 IDR access unit from openh264 (SPS, PPS, slice).
var validAU = []byte{
	0x00, 0x00, 0x00, 0x01, 0x67, 0x42, 0xc0, 0x0d, 0x8c, 0x8d, 0x4e, 0x40, 0x3c, 0x22, 0x11, 0xa8,
	0x00, 0x00, 0x00, 0x01, 0x68, 0xce, 0x3c, 0x80, 0x00, 0x00, 0x00, 0x01, 0x65, 0xb8, 0x00, 0x04,
	0x00, 0x00, 0x09, 0xff, 0x79, 0x48, 0x5a, 0x4e, 0xc3, 0x50, 0xb8, 0x00, 0x08, 0x2c, 0xad, 0x55,
	0xd4, 0xd9, 0x23, 0x06, 0xec, 0x72, 0x4a, 0x2c, 0xcc, 0x70, 0x00, 0x10, 0xdf, 0x8e, 0x00, 0x02,
	0x1b, 0xf8,
}

// liveEnv is a backend with one joined session and its connected client.
type liveEnv struct {
	*env
	join *transport.JoinResponse
	c    *transport.Client
	sp   *transport.Spool
}

func newLiveEnv(t *testing.T) *liveEnv {
	t.Helper()
	return newLiveEnvOn(t, newEnv(t))
}

func newLiveEnvOn(t *testing.T, e *env) *liveEnv {
	t.Helper()
	e.b.EnsureDemoExam(context.Background())
	r, err := e.join(t, "demo")
	if err != nil {
		t.Fatal(err)
	}
	c, sp := newSessionClient(t, r, configKey(t, r), nil)
	return &liveEnv{env: e, join: r, c: c, sp: sp}
}

// send sends messages and waits until the backend has acked them all.
func (l *liveEnv) send(t *testing.T, ms ...transport.Message) {
	t.Helper()
	for _, m := range ms {
		if _, err := l.c.Spool().Append(m); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, func() bool { return l.sp.Status().Unacked == 0 })
}

// reconnect closes the client and connects a new one on the same spool.
func (l *liveEnv) reconnect(t *testing.T) {
	t.Helper()
	l.c.Close()
	c, err := transport.NewClient(transport.ClientConfig{URL: l.join.WSURL, Token: l.join.Token, SessionID: l.join.SessionID, ConfigKey: configKey(t, l.join), Spool: l.sp})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(func() { c.Close() })
	l.c = c
}

func (l *liveEnv) finish(t *testing.T) *transport.FinishResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := l.c.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.ServerDigest != res.ClientDigest {
		t.Errorf("digests differ: %+v", res)
	}
	return res
}

func (l *liveEnv) events(t *testing.T) []Event {
	t.Helper()
	evs, err := l.b.ListEvents(context.Background(), l.join.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func media(track uint8, at time.Time, au []byte) transport.Message {
	return transport.Message{Kind: transport.KindMedia, Flags: transport.FlagKeyframe, Track: track, Time: at, Payload: au}
}

// refusedBody is the body of an ingest.refused event.
type refusedBody struct {
	Type        string `json:"type"`
	Seq         uint64 `json:"seq"`
	Track       string `json:"track"`
	Reason      string `json:"reason"`
	Detail      string `json:"detail"`
	CaptureTime int64  `json:"capture_time_us"`
	Bytes       int    `json:"bytes"`
	File        string `json:"file"`
	Offset      int64  `json:"offset"`
}

func refusals(t *testing.T, evs []Event) map[uint64]refusedBody {
	t.Helper()
	out := map[uint64]refusedBody{}
	for _, e := range evs {
		if e.Type != eventRefused {
			continue
		}
		var b refusedBody
		if err := json.Unmarshal(e.Body, &b); err != nil {
			t.Fatalf("refusal body %s: %v", e.Body, err)
		}
		out[e.Seq] = b
	}
	return out
}

// TestHostileSPSMessage sends issue 12's 61-byte message. Before the
// bounds it took 4 GiB and seconds of CPU (under `ulimit -v 2000000` the
// test binary died: "fatal error: out of memory"); now it costs kilobytes,
// is acked, kept verbatim in the session's refused file and reported to the
// proctor, and the session goes on recording.
func TestHostileSPSMessage(t *testing.T) {
	l := newLiveEnv(t)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	l.send(t, media(transport.TrackCamera, time.Now(), hostileAU))
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 32<<20 {
		t.Errorf("one %d-byte message allocated %d MiB", transport.HeaderSize+len(hostileAU), d>>20)
	}
	l.send(t, media(transport.TrackCamera, time.Now(), validAU), event("after"))
	res := l.finish(t)

	rs := refusals(t, l.events(t))
	got, ok := rs[1]
	if !ok || got.Reason != "media" || got.Track != "camera" || got.Bytes != transport.HeaderSize+len(hostileAU) {
		t.Fatalf("refusals %+v, want seq 1 refused as media", rs)
	}
	if !strings.Contains(got.Detail, "num_ref_frames_in_pic_order_cnt_cycle") {
		t.Errorf("detail %q does not name the field", got.Detail)
	}
	// The refused message is kept whole, where the event says.
	frames, err := ReadRawTrack(filepath.Join(l.b.cfg.DataDir, got.File))
	if err != nil || len(frames) != 1 || frames[0].Seq != 1 || !bytes.Equal(frames[0].Payload, hostileAU) {
		t.Fatalf("refused file: %d frames, %v", len(frames), err)
	}
	ss, _ := l.b.ListSessions(context.Background())
	if len(ss) != 1 || ss[0].Digest != res.ServerDigest {
		t.Fatalf("sessions %+v", ss)
	}
	for _, tr := range ss[0].Tracks {
		if tr.Name == "camera" && (tr.Messages != 1 || tr.Frames != 1) {
			t.Errorf("camera track %+v: want the valid message only", tr)
		}
	}
}

// TestHostileMediaRefused: every bound of recording.CheckAccessUnit turns
// into a refusal through the real ingest path, and valid media around them
// is recorded.
func TestHostileMediaRefused(t *testing.T) {
	l := newLiveEnv(t)
	many := bytes.Repeat([]byte{0, 0, 1, 0x09, 0xf0}, 5000) // 5000 AUDs
	bigSPS := append([]byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f}, bytes.Repeat([]byte{0xff}, 5000)...)
	wide := []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xf4, 0x00, 0x08, 0x00, 0x72} // 4096 MBs wide
	forbidden := []byte{0, 0, 0, 1, 0xe5, 0x88}
	now := time.Now()
	l.send(t,
		media(transport.TrackCamera, now, validAU),
		media(transport.TrackCamera, now.Add(time.Millisecond), many),
		media(transport.TrackScreen, now, bigSPS),
		media(transport.TrackScreen, now, wide),
		media(transport.TrackScreen, now, forbidden),
		media(transport.TrackCamera, now.Add(time.Second), validAU),
	)
	l.finish(t)
	rs := refusals(t, l.events(t))
	for _, seq := range []uint64{2, 3, 4, 5} {
		if rs[seq].Reason != "media" {
			t.Errorf("seq %d: refusal %+v, want media", seq, rs[seq])
		}
	}
	if len(rs) != 4 {
		t.Errorf("%d refusals, want 4: %+v", len(rs), rs)
	}
}

// TestCaptureTimeWindow: issue 12's event from year 10000 (and one from
// before the join) is refused; it used to be stored and break every JSON
// listing of sessions.
func TestCaptureTimeWindow(t *testing.T) {
	l := newLiveEnv(t)
	now := l.now
	y10k := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	ok := event("fine")
	ok.Time = now.Add(maxCaptureAhead - time.Second)
	future := event("future")
	future.Time = y10k
	past := event("past")
	past.Time = now.Add(-maxCaptureBehindJoin - time.Second)
	hb := transport.Message{Kind: transport.KindData, Track: transport.TrackHeartbeat, Time: y10k, Payload: []byte("hb")}
	l.send(t, ok, future, past, hb)
	l.finish(t)
	evs := l.events(t)
	rs := refusals(t, evs)
	for _, seq := range []uint64{2, 3, 4} {
		if rs[seq].Reason != "capture_time" {
			t.Errorf("seq %d: refusal %+v, want capture_time", seq, rs[seq])
		}
	}
	if rs[2].CaptureTime != y10k.UnixMicro() {
		t.Errorf("refusal keeps capture time %d, want %d", rs[2].CaptureTime, y10k.UnixMicro())
	}
	for _, e := range evs {
		if e.Time.Year() > now.Year()+1 || e.Time.Before(now.Add(-maxCaptureBehindJoin)) {
			t.Errorf("event %d stored at %v", e.Seq, e.Time)
		}
	}
	ss, err := l.b.ListSessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(ss); err != nil {
		t.Errorf("sessions do not encode: %v", err)
	}
}

func jpegOf(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestStillsChecked: a still must be a JPEG within the size bounds; a
// 65535×65535 header (a decompression bomb for the proctor's browser)
// and non-JPEG bytes are refused.
func TestStillsChecked(t *testing.T) {
	l := newLiveEnv(t)
	bomb := jpegOf(t, 8, 8)
	// Rewrite the SOF0 frame size to 65535×65535.
	i := bytes.Index(bomb, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0")
	}
	copy(bomb[i+5:], []byte{0xff, 0xff, 0xff, 0xff})
	if c, err := jpeg.DecodeConfig(bytes.NewReader(bomb)); err != nil || c.Width != 65535 {
		t.Fatalf("bomb header: %+v %v", c, err)
	}
	still := func(p []byte) transport.Message {
		return transport.Message{Kind: transport.KindStill, Track: transport.TrackStills, Time: time.Now(), Payload: p}
	}
	l.send(t, still(jpegOf(t, 64, 48)), still(bomb), still([]byte("<svg onload=alert(1)>")))
	l.finish(t)
	rs := refusals(t, l.events(t))
	if len(rs) != 2 || rs[2].Reason != "still" || rs[3].Reason != "still" {
		t.Errorf("refusals %+v, want seq 2 and 3 as still", rs)
	}
	ss, _ := l.b.ListSessions(context.Background())
	for _, tr := range ss[0].Tracks {
		if tr.Name == "stills" && tr.Messages != 1 {
			t.Errorf("stills track has %d messages, want 1", tr.Messages)
		}
	}
}

// TestClientCannotForgeRefusals: event types starting with "ingest." are
// the backend's; a client's is stored as invalid.
func TestClientCannotForgeRefusals(t *testing.T) {
	l := newLiveEnv(t)
	forged := event(eventRefused)
	forged.Payload = []byte(`{"type":"ingest.refused","file":"../../x","offset":999999}`)
	l.send(t, forged)
	l.send(t, media(transport.TrackCamera, time.Now(), hostileAU))
	l.finish(t)
	evs := l.events(t)
	if len(evs) != 2 || evs[0].Type != "invalid" || evs[1].Type != eventRefused {
		t.Errorf("events %+v", evs)
	}
}

// TestRefusedFileSurvivesReconnect: the refused file continues at its
// committed end on the next connection.
func TestRefusedFileSurvivesReconnect(t *testing.T) {
	l := newLiveEnv(t)
	l.send(t, media(transport.TrackCamera, time.Now(), hostileAU))
	l.reconnect(t)
	l.send(t, media(transport.TrackScreen, time.Now(), hostileAU))
	l.finish(t)
	rs := refusals(t, l.events(t))
	frames, err := ReadRawTrack(filepath.Join(l.b.cfg.DataDir, rs[2].File))
	if err != nil || len(frames) != 2 || frames[0].Seq != 1 || frames[1].Seq != 2 {
		t.Fatalf("refused file: %d frames, %v", len(frames), err)
	}
}

// TestFileModes: every file ingest writes is 0600 and every directory
// 0700, whatever the umask (issue 12: recordings were 0644).
func TestFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX modes")
	}
	l := newLiveEnv(t)
	// An older build left the sessions directory open to everyone.
	if err := os.MkdirAll(filepath.Join(l.b.cfg.DataDir, "sessions"), 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	l.send(t,
		media(transport.TrackCamera, now, validAU),
		media(transport.TrackScreen, now, hostileAU),
		transport.Message{Kind: transport.KindData, Track: transport.TrackHeartbeat, Time: now, Payload: []byte("hb")},
		transport.Message{Kind: transport.KindStill, Track: transport.TrackStills, Time: now, Payload: jpegOf(t, 8, 8)},
	)
	l.finish(t)
	root := filepath.Join(l.b.cfg.DataDir, "sessions")
	n := 0
	err := filepath.Walk(root, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 6 { // sessions, the session, camera, screen, heartbeat, stills, refused
		t.Errorf("walked %d entries", n)
	}
}

// FuzzCheckStill: the still check never panics and what it accepts has a
// header within the bounds.
func FuzzCheckStill(f *testing.F) {
	var buf bytes.Buffer
	jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 3)), nil)
	f.Add(buf.Bytes())
	f.Add([]byte{0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0xff, 0xff, 0xff, 0xff, 1, 1, 0x11, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		if checkStill(p) != nil {
			return
		}
		c, err := jpeg.DecodeConfig(bytes.NewReader(p))
		if err != nil || c.Width > maxStillSide || c.Height > maxStillSide || c.Width*c.Height > maxStillPixels {
			t.Fatalf("accepted %+v, %v", c, err)
		}
	})
}

// TestConnectionsCountedByFirstAck: hello queues its connection count
// without waiting for it, and the count is in the database by the time
// the connection's first message is acked.
func TestConnectionsCountedByFirstAck(t *testing.T) {
	l := newLiveEnv(t)
	connections := func() int {
		t.Helper()
		var n int
		if err := l.b.db.QueryRow(`SELECT connections FROM sessions WHERE id = ?`, l.join.SessionID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for want := 1; want <= 3; want++ {
		if want > 1 {
			l.reconnect(t)
		}
		l.send(t, media(transport.TrackCamera, time.Now(), validAU))
		if n := connections(); n != want {
			t.Fatalf("after the first ack of connection %d: connections = %d", want, n)
		}
	}
}

// TestSessionGateLivesWithItsConnections: a newer connection replaces the
// older one and waits for it to stop, and once neither is left the gate
// and the command channel are gone (a backend serving exam after exam kept
// both for every session it ever served).
func TestSessionGateLivesWithItsConnections(t *testing.T) {
	e := newEnv(t)
	gates := func() int {
		e.b.mu.Lock()
		defer e.b.mu.Unlock()
		return len(e.b.gates) + len(e.b.cmdCh)
	}
	first := make(chan struct{})
	var firstDone, secondIn atomic.Bool
	errs := make(chan error, 2)
	go func() {
		errs <- e.b.serveSession(context.Background(), "s1", func(ctx context.Context, _ *liveSession) error {
			e.b.commandsChanged("s1") // as the connection's writer does
			close(first)
			<-ctx.Done()
			time.Sleep(20 * time.Millisecond) // still stopping when the newer one would start
			firstDone.Store(true)
			return context.Cause(ctx)
		})
	}()
	<-first
	if n := gates(); n != 2 {
		t.Fatalf("%d gates and command channels with one connection, want 2", n)
	}
	release := make(chan struct{})
	go func() {
		errs <- e.b.serveSession(context.Background(), "s1", func(ctx context.Context, _ *liveSession) error {
			if !firstDone.Load() {
				t.Error("the newer connection ran before the older one stopped")
			}
			secondIn.Store(true)
			<-release
			return nil
		})
	}()
	if err := <-errs; !errors.Is(err, transport.ErrReplaced) {
		t.Fatalf("older connection ended with %v, want ErrReplaced", err)
	}
	waitUntil(t, secondIn.Load)
	if n := gates(); n != 2 {
		t.Fatalf("%d gates and command channels while the newer connection runs, want 2", n)
	}
	close(release)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if n := gates(); n != 0 {
		t.Fatalf("%d gates and command channels after both connections ended, want 0", n)
	}
}
