package backend

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/gorilla/websocket"

	"github.com/invigil/invigil/backend/accounts"
	"github.com/invigil/invigil/capture"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

// gridEnv is a real backend with an exam, an assigned proctor (paul) and
// one who is not (eve), served over HTTP with the real clock.
type gridEnv struct {
	b    *Backend
	srv  *httptest.Server
	exam *Exam
	pw   string
}

func newGridEnv(t testing.TB) *gridEnv {
	t.Helper()
	b, err := Open(Config{DataDir: t.TempDir(), Heartbeat: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		b.Close()
	})
	ctx := context.Background()
	e := &gridEnv{b: b, srv: srv, pw: "a long enough password"}
	if e.exam, err = b.CreateExam(ctx, ExamSpec{Name: "Live exam", Code: "live"}); err != nil {
		t.Fatal(err)
	}
	acc := b.Accounts()
	paul, err := acc.AddUser(ctx, accounts.CLIActor, "paul", accounts.Proctor, e.pw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.AddUser(ctx, accounts.CLIActor, "eve", accounts.Proctor, e.pw); err != nil {
		t.Fatal(err)
	}
	if err := acc.Assign(ctx, accounts.CLIActor, paul.ID, e.exam.ID); err != nil {
		t.Fatal(err)
	}
	return e
}

// dashUser is a logged-in dashboard user driven from Go.
type dashUser struct {
	c    *http.Client
	csrf string
	base string
}

func (e *gridEnv) login(t testing.TB, name string) *dashUser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	body, _ := json.Marshal(map[string]string{"name": name, "password": e.pw})
	resp, err := c.Post(e.srv.URL+accounts.Prefix+"login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
		t.Fatalf("login %s: %s", name, resp.Status)
	}
	return &dashUser{c: c, csrf: out.CSRF, base: e.srv.URL + accounts.Prefix}
}

// post sends a JSON POST; csrf false leaves the token out.
func (u *dashUser) post(t testing.TB, path string, v any, csrf bool) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(v)
	req, _ := http.NewRequest("POST", u.base+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if csrf {
		req.Header.Set(accounts.CSRFHeader, u.csrf)
	}
	resp, err := u.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

func (u *dashUser) get(t testing.TB, path string, v any) int {
	t.Helper()
	resp, err := u.c.Get(u.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 && v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// dialLive opens the live video socket as the page does (same Origin).
func (u *dashUser) dialLive(session, track, origin string) (*websocket.Conn, *http.Response, error) {
	url := "ws" + strings.TrimPrefix(u.base, "http") + "sessions/" + session + "/live?track=" + track
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	d := websocket.Dialer{Jar: u.c.Jar, HandshakeTimeout: 5 * time.Second}
	return d.Dial(url, h)
}

// streamer is a headless protocol client that streams real H.264 (the
// capture package's openh264 encoder over a synthetic picture with a
// moving box) on the camera and screen tracks and answers commands as a
// student would: it acknowledges warnings, replies to chat, forces a
// keyframe when asked and sends a JPEG for a snapshot.
type streamer struct {
	id   string
	c    *transport.Client
	stop chan struct{}
	wg   sync.WaitGroup

	forceKey  [2]atomic.Bool
	keyframes [2]atomic.Int64 // IDRs sent because of a keyframe command
	last      atomic.Pointer[image.YCbCr]

	mu   sync.Mutex
	cmds []transport.Command
}

type streamOpts struct {
	keyInterval time.Duration // default 2 s
	cameraOnly  bool
	// replay, if set, is sent on the camera track in a loop (stamped with
	// the time of sending) instead of encoding: a cheap way to run many
	// clients.
	replay []capture.Frame
}

func startStreamer(t testing.TB, srvURL string, o streamOpts) *streamer {
	t.Helper()
	if o.keyInterval == 0 {
		o.keyInterval = 2 * time.Second
	}
	r, err := transport.Join(context.Background(), nil, srvURL, transport.JoinRequest{Code: "live", Client: transport.ClientInfo{App: "livetest", Version: "0.1.0", OS: "linux", Arch: "amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	s := &streamer{id: r.SessionID, stop: make(chan struct{})}
	var h transport.Handler = s
	var sig policy.Signed
	if err := json.Unmarshal(r.Policy, &sig); err != nil {
		t.Fatal(err)
	}
	pub, err := policy.ParsePublicKey(r.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	_, ck, err := sig.Verify(pub)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := transport.OpenSpool(t.TempDir(), r.SpoolKey, transport.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	s.c, err = transport.NewClient(transport.ClientConfig{URL: r.WSURL, Token: r.Token, SessionID: r.SessionID, ConfigKey: ck, Spool: sp, Handler: h,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.c.Start()
	t.Cleanup(func() { s.c.Close() })
	for i, tr := range liveTracks {
		if o.cameraOnly && tr != transport.TrackCamera {
			continue
		}
		if o.replay != nil {
			s.wg.Go(func() { s.replay(o.replay) })
			continue
		}
		s.wg.Go(func() { s.run(t, i, tr, o.keyInterval) })
	}
	t.Cleanup(func() { close(s.stop); s.wg.Wait() })
	return s
}

func (s *streamer) run(t testing.TB, i int, track uint8, keyInt time.Duration) {
	w, h, fps, screen := 320, 240, 15.0, false
	if track == transport.TrackScreen {
		w, h, fps, screen = 640, 360, 4, true
	}
	enc, err := capture.NewEncoder(capture.Config{FPS: fps, BitrateKbps: 400, KeyframeInterval: keyInt}, screen, nil)
	if err != nil {
		t.Error(err)
		return
	}
	defer enc.Close()
	tick := time.NewTicker(time.Duration(float64(time.Second) / fps))
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		forced := s.forceKey[i].Swap(false)
		if forced {
			enc.ForceKeyframe()
		}
		img := synthPicture(w, h, n, screen)
		if !screen {
			s.last.Store(img)
		}
		f, ok, err := enc.Encode(img, time.Now())
		if err != nil {
			t.Error(err)
			return
		}
		if !ok {
			continue
		}
		var flags transport.Flags
		if f.Keyframe {
			flags = transport.FlagKeyframe
			if forced {
				s.keyframes[i].Add(1)
			}
		}
		if _, err := s.c.Spool().Append(transport.Message{Kind: transport.KindMedia, Flags: flags, Track: track, Time: f.Time, Payload: f.Data}); err != nil {
			return
		}
	}
}

func (s *streamer) replay(frames []capture.Frame) {
	tick := time.NewTicker(time.Second / 15)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		f := frames[n%len(frames)]
		var flags transport.Flags
		if f.Keyframe {
			flags = transport.FlagKeyframe
		}
		if _, err := s.c.Spool().Append(transport.Message{Kind: transport.KindMedia, Flags: flags, Track: transport.TrackCamera, Time: time.Now(), Payload: f.Data}); err != nil {
			return
		}
	}
}

// encodeClip encodes n frames of the synthetic picture at w×h, 15 fps, a
// keyframe every 2 s (the first frame is one).
func encodeClip(t testing.TB, w, h, n int) []capture.Frame {
	enc, err := capture.NewEncoder(capture.Config{FPS: 15, BitrateKbps: 300, KeyframeInterval: 2 * time.Second}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	t0 := time.Now()
	var out []capture.Frame
	for i := range n {
		f, ok, err := enc.Encode(synthPicture(w, h, i, false), t0.Add(time.Duration(i)*time.Second/15))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			out = append(out, f)
		}
	}
	if len(out) == 0 || !out[0].Keyframe {
		t.Fatal("the clip does not start with a keyframe")
	}
	return out
}

// synthPicture draws frame n: a grey room and a bright box sweeping
// across it (and a second one up and down), so consecutive pictures
// differ. The background is copied whole (cheap under the race detector).
func synthPicture(w, h, n int, screen bool) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	bg := synthBackground(w, h, screen)
	copy(img.Y, bg.Y)
	copy(img.Cb, bg.Cb)
	copy(img.Cr, bg.Cr)
	box := func(x0, y0, s int, y, cb, cr uint8) {
		for y1 := max(0, y0); y1 < min(h, y0+s); y1++ {
			row := img.Y[y1*img.YStride:]
			for x1 := max(0, x0); x1 < min(w, x0+s); x1++ {
				row[x1] = y
			}
		}
		for y1 := max(0, y0) / 2; y1 < min(h, y0+s)/2; y1++ {
			for x1 := max(0, x0) / 2; x1 < min(w, x0+s)/2; x1++ {
				img.Cb[y1*img.CStride+x1], img.Cr[y1*img.CStride+x1] = cb, cr
			}
		}
	}
	s := h / 4
	box((n*7)%(w-s), h/3, s, 235, 90, 200)
	box(w/2, (n*5)%(h-s/2), s/2, 30, 200, 90)
	return img
}

var synthBGs sync.Map // [3]int{w, h, screen} → *image.YCbCr

func synthBackground(w, h int, screen bool) *image.YCbCr {
	key := [3]int{w, h, 0}
	if screen {
		key[2] = 1
	}
	if v, ok := synthBGs.Load(key); ok {
		return v.(*image.YCbCr)
	}
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	bg := uint8(90)
	if screen {
		bg = 200
	}
	for i := range img.Y {
		img.Y[i] = bg
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	v, _ := synthBGs.LoadOrStore(key, img)
	return v.(*image.YCbCr)
}

// Command implements transport.Handler as a student would.
func (s *streamer) Command(_ context.Context, c transport.Command) {
	s.mu.Lock()
	s.cmds = append(s.cmds, c)
	s.mu.Unlock()
	ev := func(typ string, fields map[string]any) {
		fields["type"] = typ
		b, _ := json.Marshal(fields)
		s.c.Spool().Append(transport.Message{Kind: transport.KindEvent, Track: transport.TrackEvents, Time: time.Now(), Payload: b})
	}
	switch c.Command {
	case transport.CommandWarn:
		ev("warning.acknowledged", map[string]any{"command_id": c.ID})
	case transport.CommandChat:
		ev("chat.reply", map[string]any{"command_id": c.ID, "text": "reply: " + c.Text})
	case transport.CommandKeyframe:
		if i := liveFeedIndex(map[string]uint8{"camera": transport.TrackCamera, "screen": transport.TrackScreen}[c.Text]); i >= 0 {
			s.forceKey[i].Store(true)
		}
	case transport.CommandSnapshot:
		var buf bytes.Buffer
		if img := s.last.Load(); img != nil {
			jpeg.Encode(&buf, img, nil)
		}
		s.c.Spool().Append(transport.Message{Kind: transport.KindStill, Track: transport.TrackStills, Time: time.Now(), Payload: buf.Bytes()})
		ev("snapshot.taken", map[string]any{"source": "camera", "why": c.ID, "bytes": buf.Len()})
	}
}

func (s *streamer) commands(name string) []transport.Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []transport.Command
	for _, c := range s.cmds {
		if c.Command == name {
			out = append(out, c)
		}
	}
	return out
}

// liveMsg is one message of the live socket.
type liveMsg struct {
	key  bool
	seq  uint64
	time time.Time
	data []byte
}

func readLive(t testing.TB, conn *websocket.Conn, deadline time.Time) (liveMsg, error) {
	for {
		conn.SetReadDeadline(deadline)
		typ, b, err := conn.ReadMessage()
		if err != nil {
			return liveMsg{}, err
		}
		if typ != websocket.BinaryMessage {
			continue
		}
		if len(b) < liveHeaderBytes {
			t.Fatalf("live message of %d bytes", len(b))
		}
		return liveMsg{key: b[0]&1 != 0, seq: binary.BigEndian.Uint64(b[1:]), time: time.UnixMicro(int64(binary.BigEndian.Uint64(b[9:]))), data: b[liveHeaderBytes:]}, nil
	}
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A viewer who arrives while the client streams gets the cached GOP at
// once (starting at a keyframe); one who arrives with nothing cached gets a
// keyframe the client made on the keyframe command, within 2 s.
func TestLiveRelayCachedGOPAndKeyframeCommand(t *testing.T) {
	e := newGridEnv(t)
	// Keyframes only on request (and the first): the GOP cache and the
	// keyframe command are what a late viewer relies on.
	st := startStreamer(t, e.srv.URL, streamOpts{keyInterval: 10 * time.Minute})
	paul := e.login(t, "paul")
	waitFor(t, "stored camera frames", 10*time.Second, func() bool {
		var n int64
		e.b.db.QueryRow(`SELECT coalesce(sum(messages),0) FROM tracks WHERE session_id = ? AND track = ?`, st.id, transport.TrackCamera).Scan(&n)
		return n > 10
	})

	// A late viewer: starts at the cached keyframe, then plays in order.
	view := func(what string) {
		t.Helper()
		conn, _, err := paul.dialLive(st.id, "camera", e.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		m, err := readLive(t, conn, time.Now().Add(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if !m.key || !bytes.Contains(m.data[:min(len(m.data), 64)], []byte{0, 0, 1, 0x67}) {
			t.Errorf("%s: first frame: keyframe %v, starts % x", what, m.key, m.data[:min(len(m.data), 8)])
		}
		prev := m.seq
		for range 20 { // then live frames, in order
			m, err := readLive(t, conn, time.Now().Add(2*time.Second))
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if m.seq <= prev {
				t.Fatalf("%s: seq %d after %d", what, m.seq, prev)
			}
			prev = m.seq
		}
	}
	// Nobody watched the feed: it kept the keyframe alone, and the relay
	// asks the client for the next one.
	view("the first viewer")
	if n := len(st.commands(transport.CommandKeyframe)); n != 1 {
		t.Errorf("%d keyframe commands for the first viewer, want 1", n)
	}
	// Watched since: the GOP from that keyframe on is cached whole.
	view("the second viewer")
	if n := len(st.commands(transport.CommandKeyframe)); n != 1 {
		t.Errorf("%d keyframe commands with a GOP cached, want still 1", n)
	}

	// Nothing cached (as after a backend restart): the relay asks the
	// client, which forces an IDR.
	e.b.live.mu.Lock()
	e.b.live.dropGOP(&e.b.live.sess[st.id].feeds[0], false)
	e.b.live.sess[st.id].feeds[0].lastAsk = time.Time{} // a restarted backend has asked nothing
	keys := st.keyframes[0].Load()
	e.b.live.mu.Unlock()
	conn, _, err := paul.dialLive(st.id, "camera", e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	for {
		m, err := readLive(t, conn, start.Add(2*time.Second))
		if err != nil {
			t.Fatalf("no keyframe within 2 s of a late viewer with nothing cached: %v", err)
		}
		if m.key {
			break
		}
	}
	t.Logf("keyframe after %v", time.Since(start))
	if got := st.commands(transport.CommandKeyframe); len(got) != 2 || got[1].Text != "camera" {
		t.Errorf("keyframe commands %+v, want two for camera", got)
	}
	if st.keyframes[0].Load() == keys {
		t.Error("the keyframe did not come from the command")
	}
	// The relay's requests are not the proctor's commands.
	var live struct {
		Sessions []LiveSession `json:"sessions"`
	}
	paul.get(t, "exams/"+e.exam.ID+"/live", &live)
	if len(live.Sessions) != 1 || len(live.Sessions[0].Commands) != 0 || !live.Sessions[0].Connected || !live.Sessions[0].Keyframes {
		t.Errorf("live state %+v", live.Sessions)
	}
}

// A client whose hello does not list the keyframe command never gets one.
func TestLiveNoKeyframeForOldClient(t *testing.T) {
	e := newGridEnv(t)
	// A joined session with no connection: a connected client that lists
	// the command would be sent it and ack it, racing the second look
	// below (CI, under load, once saw it gone).
	r, err := transport.Join(context.Background(), nil, e.srv.URL, transport.JoinRequest{Code: "live", Client: transport.ClientInfo{App: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	// Queue one as the relay would for a client that announced it, then
	// check the filter of a connection that did not.
	if _, err := e.b.SendCommand(context.Background(), r.SessionID, transport.CommandKeyframe, "camera"); err != nil {
		t.Fatal(err)
	}
	w := &liveWatch{guardedSession: e.b.guard(e.b.newLiveSession(r.SessionID)).(*guardedSession), hub: e.b.live, id: r.SessionID}
	cmds, _ := w.Commands()
	if len(cmds) != 0 {
		t.Errorf("a connection without keyframe in its hello got %+v", cmds)
	}
	w.ok = true
	if cmds, _ := w.Commands(); len(cmds) != 1 {
		t.Errorf("a connection with keyframe in its hello got %+v", cmds)
	}
}

// A viewer that never reads does not slow the ingest: its queue fills, it
// misses frames until the next keyframe, and the client's frames are
// acked as before.
func TestLiveSlowViewerNeverBlocksIngest(t *testing.T) {
	h := newLiveHub(&Backend{})
	h.mu.Lock()
	h.state("s").conns = 1
	h.mu.Unlock()
	v, _, cancel := h.subscribe("s", transport.TrackCamera, false)
	defer cancel()
	frame := func(seq uint64, key bool) transport.Frame {
		var f transport.Frame
		f.Seq, f.Track, f.Kind, f.Time, f.Payload = seq, transport.TrackCamera, transport.KindMedia, time.Now(), []byte{0, 0, 0, 1, 0x41, byte(seq)}
		if key {
			f.Flags = transport.FlagKeyframe
		}
		return f
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := uint64(1); seq <= 5000; seq++ {
			h.publish("s", transport.TrackCamera, []transport.Frame{frame(seq, seq%30 == 1)})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publish blocked on a viewer that does not read")
	}
	if len(v.ch) != cap(v.ch) && !v.waitKey {
		t.Errorf("queue %d of %d, waiting for a keyframe %v", len(v.ch), cap(v.ch), v.waitKey)
	}
	// Drain: what the viewer gets is a run from a keyframe on, never a
	// delta frame after a gap.
	var prev uint64
	for len(v.ch) > 0 {
		f := <-v.ch
		if prev != 0 && f.seq != prev+1 && !f.key {
			t.Fatalf("frame %d after %d is not a keyframe", f.seq, prev)
		}
		prev = f.seq
	}
	// After the drain, the next keyframe starts the viewer again.
	h.publish("s", transport.TrackCamera, []transport.Frame{frame(5001, false)})
	h.publish("s", transport.TrackCamera, []transport.Frame{frame(5002, true)})
	if f := <-v.ch; f.seq != 5002 {
		t.Errorf("after falling behind the viewer restarted at %d, want the keyframe 5002", f.seq)
	}
}

// Access: a proctor not assigned to the exam gets 403 on the live socket,
// the grid and the commands; a command without the CSRF token, and a
// socket from another origin, are refused; every command and view is
// audited.
func TestLiveAccess(t *testing.T) {
	e := newGridEnv(t)
	st := startStreamer(t, e.srv.URL, streamOpts{})
	waitFor(t, "connection", 10*time.Second, func() bool { return e.b.live.info(st.id).connected })
	paul, eve := e.login(t, "paul"), e.login(t, "eve")

	if _, resp, err := eve.dialLive(st.id, "camera", e.srv.URL); err == nil || resp == nil || resp.StatusCode != 403 {
		t.Errorf("eve's live socket: %v %v", resp, err)
	}
	if code := eve.get(t, "exams/"+e.exam.ID+"/live", nil); code != 403 {
		t.Errorf("eve's grid: %d", code)
	}
	if code, body := eve.post(t, "sessions/"+st.id+"/commands", map[string]string{"command": "warn", "text": "x"}, true); code != 403 {
		t.Errorf("eve's command: %d %s", code, body)
	}
	if code, body := paul.post(t, "sessions/"+st.id+"/commands", map[string]string{"command": "warn", "text": "x"}, false); code != 403 || !strings.Contains(string(body), "csrf") {
		t.Errorf("paul's command without CSRF token: %d %s", code, body)
	}
	if _, resp, err := paul.dialLive(st.id, "camera", "http://evil.example"); err == nil || resp.StatusCode != 403 {
		t.Errorf("paul's socket from another origin: %v %v", resp, err)
	}
	if _, resp, err := paul.dialLive(st.id, "camera", ""); err == nil || resp.StatusCode != 403 {
		t.Errorf("paul's socket without Origin: %v %v", resp, err)
	}
	if code, _ := paul.post(t, "sessions/s_nope/commands", map[string]string{"command": "warn", "text": "x"}, true); code != 404 {
		t.Errorf("unknown session: %d", code)
	}
	for _, bad := range []map[string]string{{"command": "keyframe", "text": "camera"}, {"command": "warn"}, {"command": "end", "text": " "}, {"command": "bogus"}} {
		if code, body := paul.post(t, "sessions/"+st.id+"/commands", bad, true); code != 400 {
			t.Errorf("command %v: %d %s", bad, code, body)
		}
	}

	code, body := paul.post(t, "sessions/"+st.id+"/commands", map[string]string{"command": "warn", "text": "Eyes on the screen"}, true)
	if code != 200 {
		t.Fatalf("paul's warn: %d %s", code, body)
	}
	var res struct{ ID string }
	json.Unmarshal(body, &res)
	for range 3 { // audited once in 10 minutes
		conn, _, err := paul.dialLive(st.id, "screen", e.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	var state struct {
		Sessions []LiveSession `json:"sessions"`
	}
	waitFor(t, "the warning acknowledged", 10*time.Second, func() bool {
		paul.get(t, "exams/"+e.exam.ID+"/live", &state)
		return len(state.Sessions) == 1 && len(state.Sessions[0].Commands) == 1 && state.Sessions[0].Commands[0].State == "acknowledged"
	})
	if c := state.Sessions[0].Commands[0]; c.ID != res.ID || c.Acked.IsZero() || c.AnsweredAt.IsZero() {
		t.Errorf("command %+v", c)
	}
	entries, err := e.b.Accounts().ListAudit(context.Background(), accounts.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range entries {
		got = append(got, a.Action+" "+a.Target+" "+a.Detail)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"command.warn " + st.id + " " + res.ID + ": Eyes on the screen", "session.view " + st.id + " screen", "exam.denied " + e.exam.ID} {
		if !strings.Contains(all, want) {
			t.Errorf("audit log lacks %q:\n%s", want, all)
		}
	}
	if n := strings.Count(all, "session.view "+st.id+" screen"); n != 1 {
		t.Errorf("%d session.view entries for three opens within 10 minutes", n)
	}
	if strings.Contains(all, "command.keyframe") {
		t.Error("keyframe requests in the audit log")
	}
}

// A tile's viewer (start=key) starts with the cached keyframe alone and
// then waits for the next keyframe; a big view gets the whole GOP.
func TestLiveSubscribeKeyOnly(t *testing.T) {
	h := newLiveHub(&Backend{})
	h.mu.Lock()
	h.state("s").conns = 1
	h.mu.Unlock()
	frame := func(seq uint64, key bool) transport.Frame {
		var f transport.Frame
		f.Seq, f.Track, f.Kind, f.Time, f.Payload = seq, transport.TrackCamera, transport.KindMedia, time.Now(), []byte{0, 0, 0, 1, 0x41}
		if key {
			f.Flags = transport.FlagKeyframe
		}
		return f
	}
	watch(h, "s", transport.TrackCamera)
	h.publish("s", transport.TrackCamera, []transport.Frame{frame(1, false), frame(2, true), frame(3, false), frame(4, false)})
	tile, n, cancel1 := h.subscribe("s", transport.TrackCamera, true)
	defer cancel1()
	big, m, cancel2 := h.subscribe("s", transport.TrackCamera, false)
	defer cancel2()
	if n != 1 || m != 3 {
		t.Errorf("cached frames: tile %d, big %d; want 1 and 3", n, m)
	}
	h.publish("s", transport.TrackCamera, []transport.Frame{frame(5, false), frame(6, true), frame(7, false)})
	seqs := func(v *liveViewer) (out []uint64) {
		for len(v.ch) > 0 {
			out = append(out, (<-v.ch).seq)
		}
		return out
	}
	if got := fmt.Sprint(seqs(tile)); got != "[2 6 7]" {
		t.Errorf("tile got %s, want [2 6 7]", got)
	}
	if got := fmt.Sprint(seqs(big)); got != "[2 3 4 5 6 7]" {
		t.Errorf("big view got %s, want [2 3 4 5 6 7]", got)
	}
}

// watch opens and closes a tile of a feed: for liveWatchedFor, the feed
// keeps whole GOPs.
func watch(h *liveHub, session string, track uint8) {
	_, _, cancel := h.subscribe(session, track, true)
	cancel()
}

// A feed nobody watched keeps its keyframe alone: a big view starts from
// it, skips to the next keyframe and asks the client for one; from then on
// the feed keeps whole GOPs, also after the viewer left.
func TestLiveUnwatchedFeedKeepsKeyframe(t *testing.T) {
	h := newLiveHub(&Backend{})
	h.mu.Lock()
	st := h.state("s")
	st.conns, st.keyframeOK = 1, true
	h.mu.Unlock()
	frame := func(seq uint64, key bool) transport.Frame {
		var f transport.Frame
		f.Seq, f.Track, f.Kind, f.Time, f.Payload = seq, transport.TrackCamera, transport.KindMedia, time.Now(), make([]byte, 1000)
		if key {
			f.Flags = transport.FlagKeyframe
		}
		return f
	}
	h.publish("s", transport.TrackCamera, []transport.Frame{frame(1, true), frame(2, false), frame(3, false)})
	f := &st.feeds[0]
	if len(f.gop) != 1 || !f.partial || f.gopBytes != 1000 || h.cached > liveArenaMin {
		t.Fatalf("unwatched feed: %d frames cached (partial %v, %d bytes, arenas %d), want the keyframe alone", len(f.gop), f.partial, f.gopBytes, h.cached)
	}
	big, n, cancel := h.subscribe("s", transport.TrackCamera, false)
	if n != 1 {
		t.Errorf("big view of an unwatched feed: %d cached frames, want the keyframe", n)
	}
	select {
	case a := <-h.asks:
		if a.session != "s" || a.track != transport.TrackCamera {
			t.Errorf("keyframe asked for %+v", a)
		}
	default:
		t.Error("no keyframe asked for a big view without a whole GOP")
	}
	// Frames after the cached keyframe reference ones the viewer lacks.
	h.publish("s", transport.TrackCamera, []transport.Frame{frame(4, false), frame(5, true), frame(6, false)})
	var got []uint64
	for len(big.ch) > 0 {
		got = append(got, (<-big.ch).seq)
	}
	if fmt.Sprint(got) != "[1 5 6]" {
		t.Errorf("big view got %v, want [1 5 6]", got)
	}
	cancel()
	// Watched: the next GOP is kept whole, and a viewer plays on from it.
	h.publish("s", transport.TrackCamera, []transport.Frame{frame(7, false), frame(8, true), frame(9, false), frame(10, false)})
	if len(f.gop) != 3 || f.partial {
		t.Fatalf("watched feed: %d frames cached (partial %v), want 3", len(f.gop), f.partial)
	}
	_, n, cancel = h.subscribe("s", transport.TrackCamera, false)
	defer cancel()
	if n != 3 || len(h.asks) != 0 {
		t.Errorf("big view of a watched feed: %d cached frames, %d keyframe asks; want 3, 0", n, len(h.asks))
	}
}

// The cached GOPs are bounded per feed and all together, and their
// accounting returns to zero when the sessions go.
func TestLiveCacheBounded(t *testing.T) {
	h := newLiveHub(&Backend{})
	h.budget = 3 << 20
	frame := func(seq uint64, key bool, size int) transport.Frame {
		var f transport.Frame
		f.Seq, f.Track, f.Kind, f.Time, f.Payload = seq, transport.TrackCamera, transport.KindMedia, time.Now(), make([]byte, size)
		if key {
			f.Flags = transport.FlagKeyframe
		}
		return f
	}
	sum := func() (n int64) {
		for _, st := range h.sess {
			for i := range st.feeds {
				n += int64(cap(st.feeds[i].arena))
			}
		}
		return n
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		h.mu.Lock()
		h.state(id).conns = 1
		h.mu.Unlock()
		watch(h, id, transport.TrackCamera)
		h.publish(id, transport.TrackCamera, []transport.Frame{frame(1, true, 1<<20), frame(2, false, 1000)})
	}
	if h.cached > h.budget || h.cached != sum() {
		t.Errorf("cached %d (sum %d), budget %d", h.cached, sum(), h.budget)
	}
	if len(h.sess["d"].feeds[0].gop) != 0 {
		t.Error("the fourth session's GOP is cached over the budget")
	}
	// One feed over its own bound drops its cache.
	h.publish("a", transport.TrackCamera, []transport.Frame{frame(3, false, liveGOPBytes)})
	if len(h.sess["a"].feeds[0].gop) != 0 || h.cached != sum() {
		t.Errorf("a GOP over %d bytes is kept: %d frames, cached %d, sum %d", liveGOPBytes, len(h.sess["a"].feeds[0].gop), h.cached, sum())
	}
	h.mu.Lock()
	for _, id := range []string{"a", "b", "c", "d"} {
		st := h.sess[id]
		st.conns = 0
		h.forget(id, st)
	}
	h.mu.Unlock()
	if h.cached != 0 || len(h.sess) != 0 {
		t.Errorf("after every session left: cached %d, %d sessions", h.cached, len(h.sess))
	}
}

// The grid's state: open violations (an ended one leaves), chat from both
// sides in order, a failed snapshot, the backlog the checkpoints reveal.
func TestLiveSessionState(t *testing.T) {
	e := newGridEnv(t)
	st := startStreamer(t, e.srv.URL, streamOpts{cameraOnly: true})
	paul := e.login(t, "paul")
	// The snapshot is of the camera's last picture: wait for the camera's
	// first stored frames (the encoder's start took over 0.5 s on a loaded
	// machine, and the snapshot then had no picture to send).
	waitFor(t, "the camera's first frames", 10*time.Second, func() bool {
		var n int
		e.b.db.QueryRow(`SELECT COALESCE(SUM(messages), 0) FROM tracks WHERE session_id = ? AND track = ?`, st.id, transport.TrackCamera).Scan(&n)
		return n > 0
	})
	code, body := paul.post(t, "sessions/"+st.id+"/commands", map[string]string{"command": "chat", "text": "Are you there?"}, true)
	if code != 200 {
		t.Fatalf("chat: %d %s", code, body)
	}
	code, body = paul.post(t, "sessions/"+st.id+"/commands", map[string]string{"command": "snapshot"}, true)
	if code != 200 {
		t.Fatalf("snapshot: %d %s", code, body)
	}
	var snap struct{ ID string }
	json.Unmarshal(body, &snap)
	ev := func(body string) {
		if _, err := st.c.Spool().Append(transport.Message{Kind: transport.KindEvent, Track: transport.TrackEvents, Time: time.Now(), Payload: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	ev(`{"type":"violation.open","id":"v1","code":"process.prohibited","severity":"high","summary":"AnyDesk is running"}`)
	ev(`{"type":"violation.open","id":"v2","code":"display.count","severity":"medium","summary":"2 displays"}`)
	ev(`{"type":"violation.end","id":"v1","code":"process.prohibited"}`)
	ev(`{"type":"snapshot.failed","command_id":"` + snap.ID + `","error":"camera busy"}`)
	var state struct {
		Sessions []LiveSession `json:"sessions"`
	}
	waitFor(t, "the events in the grid's state", 10*time.Second, func() bool {
		paul.get(t, "exams/"+e.exam.ID+"/live", &state)
		return len(state.Sessions) == 1 && state.Sessions[0].ViolCount == 2 && len(state.Sessions[0].Chat) == 2
	})
	s := state.Sessions[0]
	if len(s.Violations) != 1 || s.Violations[0].ID != "v2" || s.Violations[0].Summary != "2 displays" {
		t.Errorf("open violations %+v", s.Violations)
	}
	if s.Chat[0].From != "proctor" || s.Chat[1].From != "student" || s.Chat[1].Text != "reply: Are you there?" {
		t.Errorf("chat %+v", s.Chat)
	}
	var failed bool
	for _, c := range s.Commands {
		if c.ID == snap.ID {
			failed = c.State == "failed" && c.Error == "camera busy"
		}
	}
	// The streamer answers the snapshot too (a still and snapshot.taken):
	// the failure event still marks it failed.
	if !failed {
		t.Errorf("snapshot command %+v", s.Commands)
	}
	if s.State != "active" || !s.Connected || len(s.Tracks) != 1 || s.Tracks[0].Name != "camera" || s.LastHeard.IsZero() {
		t.Errorf("session %+v", s)
	}
	// The still of the snapshot the streamer took.
	waitFor(t, "the snapshot", 10*time.Second, func() bool {
		paul.get(t, "exams/"+e.exam.ID+"/live", &state)
		return len(state.Sessions[0].Snapshots) == 1
	})
	seq := state.Sessions[0].Snapshots[0].Seq
	resp, err := paul.c.Get(paul.base + "sessions/" + st.id + "/snapshots/" + strconv.FormatUint(seq, 10))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	img, err := jpeg.Decode(resp.Body)
	if err != nil || img.Bounds().Dx() != 320 {
		t.Errorf("snapshot: %s %v", resp.Status, err)
	}
	if code := paul.get(t, "sessions/"+st.id+"/snapshots/1", nil); code != 404 {
		t.Errorf("a seq that is not a snapshot: %d", code)
	}
}

func TestSortChat(t *testing.T) {
	t0 := time.Now()
	c := []LiveChat{{Text: "b", At: t0.Add(2)}, {Text: "a", At: t0.Add(1)}, {Text: "c", At: t0.Add(3)}}
	sortChat(c)
	if got := fmt.Sprint(c[0].Text, c[1].Text, c[2].Text); got != "abc" {
		t.Errorf("got %s", got)
	}
}

// The relay keeps copies of what it caches and relays: transport reuses a
// stored frame's buffer once Store returns. A feed's arena is reused from
// one GOP to the next until a viewer holds part of it.
func TestLiveHubCopiesFrames(t *testing.T) {
	h := newLiveHub(&Backend{})
	h.mu.Lock()
	h.state("s").conns = 1
	h.mu.Unlock()
	watch(h, "s", transport.TrackCamera)
	buf := make([]byte, 100) // one read buffer, reused for every frame as transport does
	publish := func(seq uint64, key bool) {
		var f transport.Frame
		f.Seq, f.Track, f.Kind, f.Time = seq, transport.TrackCamera, transport.KindMedia, time.Now()
		if key {
			f.Flags = transport.FlagKeyframe
		}
		f.Payload = binary.BigEndian.AppendUint64(buf[:0], seq)
		h.publish("s", transport.TrackCamera, []transport.Frame{f})
		clear(buf[:cap(buf)]) // the buffer is transport's again
	}
	for seq := uint64(1); seq <= 90; seq++ {
		publish(seq, seq%30 == 1)
	}
	f := &h.sess["s"].feeds[0]
	arena := unsafe.SliceData(f.arena)
	for seq := uint64(91); seq <= 150; seq++ {
		publish(seq, seq%30 == 1)
	}
	if unsafe.SliceData(f.arena) != arena {
		t.Error("the arena was replaced with no viewer holding any of it")
	}
	if h.cached != int64(cap(f.arena)) {
		t.Errorf("cached %d, arena %d", h.cached, cap(f.arena))
	}
	v, n, cancel := h.subscribe("s", transport.TrackCamera, false)
	defer cancel()
	if n != 30 {
		t.Fatalf("%d cached frames, want 30", n)
	}
	for seq := uint64(151); seq <= 200; seq++ { // a keyframe at 151 and 181
		publish(seq, seq%30 == 1)
	}
	want := uint64(121)
	for len(v.ch) > 0 {
		lf := <-v.ch
		v.taken(lf)
		if lf.seq != want || len(lf.data) != 8 || binary.BigEndian.Uint64(lf.data) != want {
			t.Fatalf("frame %d: seq %d, data %x", want, lf.seq, lf.data)
		}
		want++
	}
	if want != 201 {
		t.Errorf("the viewer got frames up to %d, want 200", want-1)
	}
}
