package transport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/invigil/invigil/transport/faultproxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testConfigKey = strings.Repeat("ab", 32)

// memStore is an in-memory backend for one session: what the real backend
// does with SQLite and files, minus the durability.
type memStore struct {
	mu       sync.Mutex
	frames   []Frame // stored, in order
	digest   [32]byte
	finished bool
	cmds     []Control
	acked    map[string]bool
	changed  chan struct{}
	storeErr error // injected failure
}

func newMemStore() *memStore {
	return &memStore{acked: map[string]bool{}, changed: make(chan struct{})}
}

func (m *memStore) Hello(_ context.Context, h *Control) (uint64, string, error) {
	if h.SessionID != "s_test" {
		return 0, "", &RemoteError{Code: CodeUnauthorized, Message: "wrong session"}
	}
	if h.ConfigKey != testConfigKey {
		return 0, "", &RemoteError{Code: CodeConfigKeyMismatch, Message: "config key mismatch"}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finished {
		return 0, "", &RemoteError{Code: CodeSessionFinished, Message: "finished"}
	}
	return uint64(len(m.frames)), StateActive, nil
}

func (m *memStore) Store(_ context.Context, frames []Frame) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.storeErr != nil {
		return m.storeErr
	}
	for _, f := range frames {
		if f.Seq != uint64(len(m.frames))+1 {
			return fmt.Errorf("store got seq %d after %d", f.Seq, len(m.frames))
		}
		f.Raw = append([]byte(nil), f.Raw...)
		f.Payload = f.Raw[HeaderSize:]
		m.frames = append(m.frames, f)
		m.digest = sha256.Sum256(append(m.digest[:], f.Raw...))
	}
	return nil
}

func (m *memStore) Commands() ([]Control, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Control
	for _, c := range m.cmds {
		if !m.acked[c.ID] {
			out = append(out, c)
		}
	}
	return out, m.changed
}

func (m *memStore) AckCommand(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.acked[id] = true
	return nil
}

func (m *memStore) addCommand(c Control) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cmds = append(m.cmds, c)
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *memStore) Finish(_ context.Context, last uint64) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.finished = true
	return hex.EncodeToString(m.digest[:]), nil
}

func (m *memStore) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.frames)
}

// checkExactlyOnce checks the store holds messages 1..n exactly once, in
// order, each with the payload testMsg gave it.
func (m *memStore) checkExactlyOnce(t *testing.T, n int) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.frames) != n {
		t.Fatalf("stored %d messages, want %d", len(m.frames), n)
	}
	for i, f := range m.frames {
		if want := fmt.Sprintf("message %d", i+1); f.Seq != uint64(i+1) || string(f.Payload) != want {
			t.Fatalf("stored[%d] = seq %d %q, want %q", i, f.Seq, f.Payload, want)
		}
	}
}

// testBackend serves one memStore's session over a real websocket.
type testBackend struct {
	store *memStore
	srv   *httptest.Server
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns int
}

func startBackend(t *testing.T, store *memStore, addr string) *testBackend {
	t.Helper()
	b := &testBackend{store: store}
	b.ctx, b.stop = context.WithCancel(context.Background())
	var live context.CancelCauseFunc
	var liveDone chan struct{}
	var mu sync.Mutex
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			WriteAPIError(w, http.StatusUnauthorized, CodeUnauthorized, "bad token")
			return
		}
		conn, err := Upgrade(w, r)
		if err != nil {
			return
		}
		b.wg.Add(1)
		defer b.wg.Done()
		ctx, cancel := context.WithCancelCause(b.ctx)
		done := make(chan struct{})
		mu.Lock()
		if live != nil {
			live(ErrReplaced)
			<-liveDone
		}
		live, liveDone = cancel, done
		b.mu.Lock()
		b.conns++
		b.mu.Unlock()
		mu.Unlock()
		ServeConn(ctx, conn, store, ServerOptions{Heartbeat: 200 * time.Millisecond})
		close(done)
		cancel(nil)
	})
	b.srv = httptest.NewUnstartedServer(handler)
	if addr != "" {
		var ln net.Listener
		var err error
		for i := 0; i < 50; i++ { // the old listener's port may linger briefly
			if ln, err = net.Listen("tcp", addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		b.srv.Listener = ln
	}
	b.srv.Start()
	return b
}

func (b *testBackend) addr() string { return b.srv.Listener.Addr().String() }

// kill drops every connection and the listener at once.
func (b *testBackend) kill() {
	b.stop()
	b.srv.CloseClientConnections()
	b.srv.Close()
	b.wg.Wait()
}

func newTestClient(t *testing.T, url string, spool *Spool, h Handler) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{
		URL: url, Token: "tok", SessionID: "s_test", ConfigKey: testConfigKey,
		Info: ClientInfo{App: "test"}, Spool: spool, Handler: h,
		Heartbeat: 200 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	return c
}

func wsURL(addr string) string { return "ws://" + addr + "/api/v1/ws" }

func sendN(t *testing.T, c *Client, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := c.Spool().Append(testMsg(i)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
}

func finish(t *testing.T, c *Client, store *memStore, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.Finish(ctx)
	if err != nil {
		t.Fatalf("Finish: %v (status %+v)", err, c.Status())
	}
	store.checkExactlyOnce(t, n)
	if res.LastSeq != uint64(n) || res.ServerDigest != res.ClientDigest || res.ClientDigest != wantDigest(t, n) {
		t.Errorf("finish result %+v, want last %d and matching digests", res, n)
	}
}

func TestClientNormalRun(t *testing.T) {
	store := newMemStore()
	b := startBackend(t, store, "")
	defer b.kill()
	spool := mustOpen(t, t.TempDir(), SpoolOptions{})
	defer spool.Close()
	c := newTestClient(t, wsURL(b.addr()), spool, nil)
	defer c.Close()
	sendN(t, c, 1, 500)
	finish(t, c, store, 500)
	if st := spool.Status(); st.Unacked != 0 {
		t.Errorf("spool after finish: %+v", st)
	}
	// After finish, the backend refuses the session.
	c2 := newTestClient(t, wsURL(b.addr()), spool, nil)
	<-c2.Done()
	if !errors.Is(c2.Err(), ErrSessionFinished) {
		t.Errorf("reconnect after finish: %v", c2.Err())
	}
	c2.Close()
}

func TestClientSurvivesStallAndCut(t *testing.T) {
	store := newMemStore()
	b := startBackend(t, store, "")
	defer b.kill()
	p, err := faultproxy.New(b.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	spool := mustOpen(t, t.TempDir(), SpoolOptions{})
	defer spool.Close()
	c := newTestClient(t, wsURL(p.Addr()), spool, nil)
	defer c.Close()

	sendN(t, c, 1, 100)
	waitFor(t, "first acks", func() bool { return store.count() > 0 })
	connected := func(reconnects int) func() bool {
		return func() bool { st := c.Status(); return st.Connected && st.Reconnects >= reconnects }
	}
	down := func() bool { return !c.Status().Connected }

	// Each fault waits for the client to see it and to come back, so the
	// test checks what the client does and not how fast a loaded CI
	// machine schedules it.
	p.Stall() // silent network: only the heartbeat can notice
	sendN(t, c, 101, 200)
	waitFor(t, "the heartbeat to notice the stall", down)
	p.Resume()
	waitFor(t, "reconnect after the stall", connected(1))

	sendN(t, c, 201, 300)
	p.Cut() // reset mid-stream
	sendN(t, c, 301, 400)
	waitFor(t, "reconnect after the cut", connected(2))

	p.Refuse(true)
	p.Cut()
	sendN(t, c, 401, 450)
	waitFor(t, "the cut while refusing", down)
	refusedFrom := p.Accepted()
	waitFor(t, "a refused attempt", func() bool { return p.Accepted() > refusedFrom })
	p.Refuse(false)
	waitFor(t, "reconnect after refusals", connected(3))

	p.Throttle(20 << 10)
	sendN(t, c, 451, 500)
	finish(t, c, store, 500)
	if st := c.Status(); st.Reconnects < 3 {
		t.Errorf("reconnects = %d, want at least 3", st.Reconnects)
	}
}

func TestClientSurvivesBackendRestart(t *testing.T) {
	store := newMemStore()
	b := startBackend(t, store, "127.0.0.1:0")
	addr := b.addr()
	spool := mustOpen(t, t.TempDir(), SpoolOptions{})
	defer spool.Close()
	c := newTestClient(t, wsURL(addr), spool, nil)
	defer c.Close()
	sendN(t, c, 1, 200)
	waitFor(t, "some stored", func() bool { return store.count() > 0 })
	b.kill()
	sendN(t, c, 201, 300) // spooled while the backend is down
	time.Sleep(300 * time.Millisecond)
	b = startBackend(t, store, addr)
	defer b.kill()
	sendN(t, c, 301, 400)
	finish(t, c, store, 400)
}

func TestClientRestartWithSameSpool(t *testing.T) {
	store := newMemStore()
	b := startBackend(t, store, "")
	defer b.kill()
	dir := t.TempDir()
	spool := mustOpen(t, dir, SpoolOptions{})
	p, err := faultproxy.New(b.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := newTestClient(t, wsURL(p.Addr()), spool, nil)
	sendN(t, c, 1, 100)
	waitFor(t, "some stored", func() bool { return store.count() > 0 })
	p.Stall()
	sendN(t, c, 101, 200) // spooled, not delivered
	c.Close()             // the process "dies": nothing more leaves
	spool.Close()
	p.Cut()
	p.Resume()

	spool = mustOpen(t, dir, SpoolOptions{})
	defer spool.Close()
	if st := spool.Status(); st.NextSeq != 201 {
		t.Fatalf("reopened spool next seq %d", st.NextSeq)
	}
	c = newTestClient(t, wsURL(b.addr()), spool, nil)
	defer c.Close()
	sendN(t, c, 201, 250)
	finish(t, c, store, 250)
}

type recordingHandler struct {
	mu   sync.Mutex
	cmds []Command
}

func (h *recordingHandler) Command(_ context.Context, c Command) {
	h.mu.Lock()
	h.cmds = append(h.cmds, c)
	h.mu.Unlock()
}

func (h *recordingHandler) ids() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s []string
	for _, c := range h.cmds {
		s = append(s, c.Command+":"+c.ID)
	}
	return strings.Join(s, ",")
}

func TestClientCommands(t *testing.T) {
	store := newMemStore()
	b := startBackend(t, store, "")
	defer b.kill()
	p, err := faultproxy.New(b.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	spool := mustOpen(t, t.TempDir(), SpoolOptions{})
	defer spool.Close()
	h := &recordingHandler{}
	c := newTestClient(t, wsURL(p.Addr()), spool, h)
	defer c.Close()
	store.addCommand(Control{Type: TypeCommand, ID: "c1", Command: CommandWarn, Text: "eyes on the screen", At: time.Now()})
	waitFor(t, "warn delivered", func() bool { return h.ids() == "warn:c1" })
	waitFor(t, "warn acked", func() bool { store.mu.Lock(); defer store.mu.Unlock(); return store.acked["c1"] })
	// Resent after a reconnect if its ack was lost: delivered once only.
	store.mu.Lock()
	store.acked["c1"] = false
	store.mu.Unlock()
	p.Cut()
	store.addCommand(Control{Type: TypeCommand, ID: "c2", Command: CommandPause, At: time.Now()})
	waitFor(t, "pause delivered", func() bool { return h.ids() == "warn:c1,pause:c2" })
	waitFor(t, "both acked", func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		return store.acked["c1"] && store.acked["c2"]
	})
	if n := p.Accepted(); n < 2 {
		t.Fatalf("%d connections through the proxy: the cut did not make the client reconnect", n)
	}
	if got, want := h.ids(), "warn:c1,pause:c2"; got != want {
		t.Fatalf("commands delivered %q after c1 was resent, want %q", got, want)
	}
}

func TestClientPermanentErrors(t *testing.T) {
	store := newMemStore()
	b := startBackend(t, store, "")
	defer b.kill()
	tests := []struct {
		name   string
		mutate func(*ClientConfig)
		want   error
	}{
		{"config key", func(c *ClientConfig) { c.ConfigKey = strings.Repeat("cd", 32) }, ErrConfigKeyMismatch},
		{"token", func(c *ClientConfig) { c.Token = "nope" }, ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spool := mustOpen(t, t.TempDir(), SpoolOptions{})
			defer spool.Close()
			cfg := ClientConfig{URL: wsURL(b.addr()), Token: "tok", SessionID: "s_test", ConfigKey: testConfigKey, Spool: spool, MinBackoff: time.Millisecond}
			tt.mutate(&cfg)
			c, err := NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			c.Start()
			defer c.Close()
			sendN(t, c, 1, 3)
			select {
			case <-c.Done():
			case <-time.After(15 * time.Second):
				t.Fatal("client kept retrying a permanent error")
			}
			if !errors.Is(c.Err(), tt.want) {
				t.Errorf("Err = %v, want %v", c.Err(), tt.want)
			}
			if _, err := c.Finish(context.Background()); !errors.Is(err, tt.want) {
				t.Errorf("Finish = %v, want %v", err, tt.want)
			}
			if st := spool.Status(); st.Unacked != 3 {
				t.Errorf("spool lost data on a permanent error: %+v", st)
			}
		})
	}
}

func TestClientStoreFailureRetries(t *testing.T) {
	store := newMemStore()
	store.storeErr = errors.New("disk full")
	b := startBackend(t, store, "")
	defer b.kill()
	spool := mustOpen(t, t.TempDir(), SpoolOptions{})
	defer spool.Close()
	c := newTestClient(t, wsURL(b.addr()), spool, nil)
	defer c.Close()
	sendN(t, c, 1, 50)
	waitFor(t, "a few failed connections", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.conns >= 2 })
	store.mu.Lock()
	store.storeErr = nil
	store.mu.Unlock()
	finish(t, c, store, 50)
}

// TestServerRejectsGapsAndJunk speaks to ServeConn with a raw websocket.
func TestServerRejectsGapsAndJunk(t *testing.T) {
	store := newMemStore()
	b := startBackend(t, store, "")
	defer b.kill()
	dial := func(t *testing.T) *websocket.Conn {
		d := websocket.Dialer{Subprotocols: []string{Subprotocol}}
		conn, _, err := d.Dial(wsURL(b.addr()), http.Header{"Authorization": {"Bearer tok"}})
		if err != nil {
			t.Fatal(err)
		}
		return conn
	}
	hello := fmt.Sprintf(`{"type":"hello","protocol":1,"session_id":"s_test","config_key":%q,"next_seq":1}`, testConfigKey)
	tests := []struct {
		name   string
		first  string
		frames [][]byte
		want   int
	}{
		{"gap", hello, [][]byte{AppendFrame(nil, Header{Kind: KindData, Track: TrackHeartbeat, Seq: 1}, nil), AppendFrame(nil, Header{Kind: KindData, Track: TrackHeartbeat, Seq: 3}, nil)}, 4422},
		{"junk frame", hello, [][]byte{[]byte("junk")}, 4400},
		{"no hello", `{"type":"ack","seq":1}`, nil, 4400},
		{"old protocol", strings.Replace(hello, `"protocol":1`, `"protocol":9`, 1), nil, 4426},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := dial(t)
			defer conn.Close()
			conn.WriteMessage(websocket.TextMessage, []byte(tt.first))
			for _, f := range tt.frames {
				conn.WriteMessage(websocket.BinaryMessage, f)
			}
			var code int
			for {
				_, _, err := conn.ReadMessage()
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					code = ce.Code
					break
				}
				if err != nil {
					t.Fatalf("read: %v", err)
				}
			}
			if code != tt.want {
				t.Errorf("close code %d, want %d", code, tt.want)
			}
		})
	}
	// Without the subprotocol: HTTP 400.
	_, resp, err := websocket.DefaultDialer.Dial(wsURL(b.addr()), http.Header{"Authorization": {"Bearer tok"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("no subprotocol: err %v resp %v", err, resp)
	}
}

func TestBackoff(t *testing.T) {
	for attempt := 0; attempt < 40; attempt++ {
		d := backoff(attempt, 250*time.Millisecond, 30*time.Second)
		ceil := min(250*time.Millisecond<<min(attempt, 20), 30*time.Second)
		if d < 125*time.Millisecond || d > ceil {
			t.Errorf("backoff(%d) = %v, want in [125ms, %v]", attempt, d, ceil)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestClientSlowOnStatus: an OnStatus that blocks does not hold up the
// upload; once it returns it gets the latest status, and Close waits for it.
func TestClientSlowOnStatus(t *testing.T) {
	store := newMemStore()
	b := startBackend(t, store, "")
	defer b.kill()
	spool := mustOpen(t, t.TempDir(), SpoolOptions{})
	defer spool.Close()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var mu sync.Mutex
	var last Status
	c, err := NewClient(ClientConfig{
		URL: wsURL(b.addr()), Token: "tok", SessionID: "s_test", ConfigKey: testConfigKey,
		Info: ClientInfo{App: "test"}, Spool: spool,
		Heartbeat: 200 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		OnStatus: func(s Status) {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
			mu.Lock()
			last = s
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	<-entered // OnStatus is blocked from here on
	sendN(t, c, 1, 50)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := spool.WaitAcked(ctx); err != nil {
		t.Fatalf("upload stalled behind a blocked OnStatus: %v (status %+v)", err, c.Status())
	}
	close(release)
	waitFor(t, "the latest status", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return last.Connected && last.Spool.Acked == 50
	})
	c.Close()
}
