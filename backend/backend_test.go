package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type env struct {
	b   *Backend
	srv *httptest.Server
	mu  sync.Mutex // guards now against the backend's reads
	now time.Time
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// advance moves the backend's clock.
func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with a chance to change the backend's Config.
func newEnvWith(t *testing.T, tune func(*Config)) *env {
	t.Helper()
	e := &env{now: time.Now().UTC().Truncate(time.Second)} // clients stamp capture times with time.Now: the ingest window is around it
	cfg := Config{DataDir: t.TempDir(), Heartbeat: 300 * time.Millisecond, Now: e.clock}
	if tune != nil {
		tune(&cfg)
	}
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.b = b
	e.srv = httptest.NewServer(b.Handler())
	t.Cleanup(func() {
		e.srv.CloseClientConnections()
		e.srv.Close()
		http.DefaultClient.CloseIdleConnections()
		b.Close()
	})
	return e
}

func (e *env) join(t *testing.T, code string) (*transport.JoinResponse, error) {
	t.Helper()
	return transport.Join(context.Background(), nil, e.srv.URL, transport.JoinRequest{Code: code, Client: transport.ClientInfo{App: "test"}})
}

func configKey(t *testing.T, r *transport.JoinResponse) string {
	t.Helper()
	var s policy.Signed
	if err := json.Unmarshal(r.Policy, &s); err != nil {
		t.Fatal(err)
	}
	pub, err := policy.ParsePublicKey(r.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	_, ck, err := s.Verify(pub)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

func TestJoinAndExamWindow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.b.EnsureDemoExam(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.EnsureDemoExam(ctx); err != nil {
		t.Fatalf("second EnsureDemoExam: %v", err)
	}
	_, err := e.b.CreateExam(ctx, ExamSpec{Name: "Later", Code: "later", OpensAt: e.now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.b.CreateExam(ctx, ExamSpec{Name: "Over", Code: "over", ClosesAt: e.now.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.CreateExam(ctx, ExamSpec{Name: "Dup", Code: "Demo"}); !errors.Is(err, ErrCodeTaken) {
		t.Errorf("duplicate code: %v", err)
	}
	if _, err := e.b.CreateExam(ctx, ExamSpec{Name: "Bad", Policy: []byte(`{"version":1,"bogus":true}`)}); err == nil {
		t.Error("a policy with an unknown field was accepted")
	}

	r, err := e.join(t, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.SpoolKey) != 32 || r.Token == "" || !strings.HasPrefix(r.WSURL, "ws://") {
		t.Errorf("join response %+v", r)
	}
	configKey(t, r) // verifies

	tests := []struct {
		code string
		want error
	}{
		{"nope", transport.ErrUnknownCode},
		{"later", transport.ErrExamNotOpen},
		{"over", transport.ErrExamClosed},
	}
	for _, tt := range tests {
		if _, err := e.join(t, tt.code); !errors.Is(err, tt.want) {
			t.Errorf("join %s: %v, want %v", tt.code, err, tt.want)
		}
	}
	var re *transport.RemoteError
	if _, err := e.join(t, "later"); !errors.As(err, &re) || !re.OpensAt.Equal(e.now.Add(time.Hour)) {
		t.Errorf("not open yet: %v (opens %v)", err, re)
	}

	// Malformed and oversized bodies.
	for _, body := range []string{`{`, `{"code":"a b"}`, `{"code":"` + strings.Repeat("x", 70<<10) + `"}`} {
		resp, err := http.Post(e.srv.URL+"/api/v1/join", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 && resp.StatusCode != 413 || !bytes.Contains(b, []byte(`"code"`)) {
			t.Errorf("body %.20q: %d %s", body, resp.StatusCode, b)
		}
	}
}

func newSessionClient(t *testing.T, r *transport.JoinResponse, ck string, h transport.Handler) (*transport.Client, *transport.Spool) {
	t.Helper()
	sp, err := transport.OpenSpool(t.TempDir(), r.SpoolKey, transport.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	c, err := transport.NewClient(transport.ClientConfig{URL: r.WSURL, Token: r.Token, SessionID: r.SessionID, ConfigKey: ck, Spool: sp, Handler: h, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(func() { c.Close() })
	return c, sp
}

func event(typ string) transport.Message {
	return transport.Message{Kind: transport.KindEvent, Track: transport.TrackEvents, Time: time.Now(), Payload: []byte(`{"type":"` + typ + `"}`)}
}

func TestIngestAndListings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.b.EnsureDemoExam(ctx)
	r, err := e.join(t, "DEMO")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newSessionClient(t, r, configKey(t, r), nil)
	at := time.Now()
	c.Spool().Append(event("session.started"))
	for i := range 20 {
		c.Spool().Append(transport.Message{Kind: transport.KindData, Track: transport.TrackHeartbeat, Time: at.Add(time.Duration(i) * time.Second), Payload: []byte(fmt.Sprint("hb", i))})
	}
	c.Spool().Append(transport.Message{Kind: transport.KindEvent, Track: transport.TrackEvents, Time: time.Now(), Payload: []byte("not json")})
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := c.Finish(fctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.ServerDigest != res.ClientDigest {
		t.Errorf("digests differ: %+v", res)
	}
	ss, err := e.b.ListSessions(ctx)
	if err != nil || len(ss) != 1 {
		t.Fatalf("sessions %v %v", ss, err)
	}
	s := ss[0]
	if s.State != "finished" || s.LastAck != 22 || s.Messages != 22 || len(s.Tracks) != 2 || s.Digest != res.ServerDigest {
		t.Fatalf("session %+v", s)
	}
	hb := s.Tracks[1]
	if hb.Name != "heartbeat" || hb.Messages != 20 || hb.Duration != 19*time.Second || hb.File == "" {
		t.Errorf("heartbeat track %+v", hb)
	}
	frames, err := ReadRawTrack(hb.File)
	if err != nil || len(frames) != 20 || string(frames[19].Payload) != "hb19" {
		t.Errorf("raw track: %d frames, %v", len(frames), err)
	}
	evs, err := e.b.ListEvents(ctx, r.SessionID)
	if err != nil || len(evs) != 2 {
		t.Fatalf("events %v %v", evs, err)
	}
	if evs[0].Type != "session.started" || evs[0].Seq != 1 || evs[1].Type != "invalid" || evs[1].Seq != 22 {
		t.Errorf("events %+v; a non-JSON event is kept as \"invalid\"", evs)
	}
	if _, err := e.b.ListEvents(ctx, "s_nope"); !errors.Is(err, ErrNoSession) {
		t.Errorf("events of unknown session: %v", err)
	}
	// A finished session cannot be resumed.
	if _, err := transport.Resume(ctx, nil, e.srv.URL, r.Token); !errors.Is(err, transport.ErrSessionFinished) {
		t.Errorf("resume after finish: %v", err)
	}
}

func TestConfigKeyMismatchRejected(t *testing.T) {
	e := newEnv(t)
	e.b.EnsureDemoExam(context.Background())
	r, _ := e.join(t, "demo")
	c, sp := newSessionClient(t, r, strings.Repeat("0", 64), nil)
	c.Spool().Append(event("x"))
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("client not stopped")
	}
	if !errors.Is(c.Err(), transport.ErrConfigKeyMismatch) {
		t.Errorf("err = %v", c.Err())
	}
	if sp.Status().Unacked != 1 {
		t.Error("nothing should be acked")
	}
}

type cmdRecorder struct {
	mu   sync.Mutex
	cmds []string
}

func (h *cmdRecorder) Command(_ context.Context, c transport.Command) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cmds = append(h.cmds, c.Command+":"+c.Text)
}

func (h *cmdRecorder) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.cmds, ",")
}

func TestCommandsAndEnd(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.b.EnsureDemoExam(ctx)
	r, _ := e.join(t, "demo")
	// Commands queued before the client connects arrive after its welcome.
	if _, err := e.b.SendCommand(ctx, r.SessionID, "warn", "look at the screen"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.SendCommand(ctx, r.SessionID, "explode", ""); err == nil {
		t.Error("unknown command accepted")
	}
	if _, err := e.b.SendCommand(ctx, "s_nope", "warn", ""); !errors.Is(err, ErrNoSession) {
		t.Errorf("unknown session: %v", err)
	}
	h := &cmdRecorder{}
	c, _ := newSessionClient(t, r, configKey(t, r), h)
	waitUntil(t, func() bool { return h.String() == "warn:look at the screen" })
	// Through the admin API, while connected.
	post := func(body string) int {
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/admin/sessions/"+r.SessionID+"/commands", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.b.AdminToken())
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(`{"command":"pause","text":"hold on"}`); code != 201 {
		t.Fatalf("admin command: %d", code)
	}
	waitUntil(t, func() bool { return h.String() == "warn:look at the screen,pause:hold on" })
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/admin/sessions/"+r.SessionID+"/commands", strings.NewReader(`{"command":"end"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("admin API without token: %d", resp.StatusCode)
	}
	post(`{"command":"end","text":"time is up"}`)
	waitUntil(t, func() bool { return strings.HasSuffix(h.String(), "end:time is up") })
	c.Spool().Append(event("x"))
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Finish(fctx); err != nil {
		t.Fatal(err)
	}
	ss, _ := e.b.ListSessions(ctx)
	if ss[0].State != "ended" {
		t.Errorf("state after an end command and finish: %s", ss[0].State)
	}
	var pending int
	e.b.db.QueryRow(`SELECT COUNT(*) FROM commands WHERE acked_at IS NULL`).Scan(&pending)
	if pending != 0 {
		t.Errorf("%d commands not acked", pending)
	}
}

func TestTornTrackCutOnReconnect(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.b.EnsureDemoExam(ctx)
	r, _ := e.join(t, "demo")
	ck := configKey(t, r)
	c, sp := newSessionClient(t, r, ck, nil)
	for i := range 10 {
		c.Spool().Append(transport.Message{Kind: transport.KindData, Track: transport.TrackHeartbeat, Time: time.Now(), Payload: []byte(fmt.Sprint(i))})
	}
	waitUntil(t, func() bool { return sp.Status().Unacked == 0 })
	c.Close()
	// A crash left half a record after the committed end of the file.
	path := filepath.Join(e.b.cfg.DataDir, trackFile(r.SessionID, transport.TrackHeartbeat))
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{0, 0, 0, 99, 1, 2, 3})
	f.Close()
	c2, err := transport.NewClient(transport.ClientConfig{URL: r.WSURL, Token: r.Token, SessionID: r.SessionID, ConfigKey: ck, Spool: sp})
	if err != nil {
		t.Fatal(err)
	}
	c2.Start()
	defer c2.Close()
	for i := 10; i < 15; i++ {
		c2.Spool().Append(transport.Message{Kind: transport.KindData, Track: transport.TrackHeartbeat, Time: time.Now(), Payload: []byte(fmt.Sprint(i))})
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c2.Finish(fctx); err != nil {
		t.Fatal(err)
	}
	frames, err := ReadRawTrack(path)
	if err != nil || len(frames) != 15 {
		t.Fatalf("%d frames, %v", len(frames), err)
	}
	for i, f := range frames {
		if string(f.Payload) != fmt.Sprint(i) || f.Seq != uint64(i+1) {
			t.Fatalf("frame %d = seq %d %q", i, f.Seq, f.Payload)
		}
	}
}

func TestManySessionsConcurrently(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.b.EnsureDemoExam(ctx)
	var wg sync.WaitGroup
	for range 12 {
		r, err := e.join(t, "demo")
		if err != nil {
			t.Fatal(err)
		}
		c, _ := newSessionClient(t, r, configKey(t, r), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				c.Spool().Append(transport.Message{Kind: transport.KindData, Track: transport.TrackHeartbeat, Time: time.Now(), Payload: []byte(fmt.Sprint(i))})
				if i%10 == 0 {
					c.Spool().Append(event("tick"))
				}
			}
			fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if res, err := c.Finish(fctx); err != nil || res.ServerDigest != res.ClientDigest {
				t.Errorf("finish: %v %+v", err, res)
			}
		}()
	}
	wg.Wait()
	ss, _ := e.b.ListSessions(ctx)
	for _, s := range ss {
		if s.LastAck != 110 || s.State != "finished" {
			t.Errorf("session %s: %d messages, %s", s.ID, s.LastAck, s.State)
		}
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSpeedTest(t *testing.T) {
	e := newEnv(t)
	e.b.EnsureDemoExam(context.Background())
	r, _ := e.join(t, "demo")
	rate, err := transport.SpeedTest(context.Background(), nil, e.srv.URL, r.Token, 1<<20)
	if err != nil || rate <= 0 {
		t.Fatalf("rate %v, err %v", rate, err)
	}
	if _, err := transport.SpeedTest(context.Background(), nil, e.srv.URL, "nope", 1000); !errors.Is(err, transport.ErrUnauthorized) {
		t.Errorf("bad token: %v", err)
	}
}
