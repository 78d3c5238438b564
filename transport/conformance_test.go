package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The conformance test walks docs/protocol.md: every sentence there with a
// rule the server enforces carries an id such as [R12], and conformanceRules
// has a test for each id. TestConformanceCoversDoc keeps the two in step.
var conformanceRules = []struct {
	id   string
	test func(*testing.T)
}{
	{"R1", testUpgradeNeedsSubprotocol},
	{"R2", testHelloFirstWithinTimeout},
	{"R3", testHelloProtocol},
	{"R4", testWelcomeFields},
	{"R5", testHelloNextSeqRequired},
	{"R6", testStoreInOrderDropDuplicates},
	{"R7", testGapCloses},
	{"R8", testSpoolBehindConflict},
	{"R9", testBinaryTooLarge},
	{"R10", testTextTooLarge},
	{"R11", testMalformedFrame},
	{"R12", testUnknownControl},
	{"R13", testAckOnlyWhenDurable},
	{"R14", testServerPings},
	{"R15", testSilentClientTimesOut},
	{"R16", testHalfSentMessageTimesOut},
	{"R17", testMemoryBudget},
	{"R18", testCommandsResentWithBackoff},
	{"R19", testCommandAckIdempotent},
	{"R20", testFinish},
	{"R21", testFinishMismatch},
	{"R22", testReplaced},
	{"R23", testShutdown},
	{"R24", testStoreFailure},
	{"R25", testErrorBeforeClose},
	{"R26", testWSURLSameOrigin},
	{"R27", testWSURLResolution},
	{"R28", testJSONRequiredFields},
	{"R29", testFrameVectors},
	{"R30", testKeyVectors},
	{"R38", testKeyframeCommandAnnounced},
}

// externalRules are checked against the reference backend itself, by tests
// of package transport_test (backend_conformance_test.go).
var externalRules = map[string]string{
	"R31": "TestDrainAfterEnd",
	"R32": "TestAdminErrorCodes",
	"R33": "TestBackendRefusesUpgrade",
	"R34": "TestBackendRefusesHello",
	"R35": "TestBackendResumeAndFinished",
	"R36": "TestBackendSpeedTest",
	"R37": "TestBackendResumeAndFinished", // its invalid event
}

func TestConformance(t *testing.T) {
	for _, r := range conformanceRules {
		// One at a time: the rules are about timing (heartbeats of a few
		// hundred milliseconds), which a loaded machine would blur.
		t.Run(r.id, r.test)
	}
}

func readProtocolDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var ruleID = regexp.MustCompile(`\[(R\d+)\]`)

func TestConformanceCoversDoc(t *testing.T) {
	doc := readProtocolDoc(t)
	inDoc := map[string]int{}
	for _, m := range ruleID.FindAllStringSubmatch(doc, -1) {
		inDoc[m[1]]++
	}
	tested := map[string]bool{}
	ext, err := os.ReadFile("backend_conformance_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for id, test := range externalRules {
		if !strings.Contains(string(ext), "func "+test+"(t *testing.T)") {
			t.Errorf("rule %s: no test %s in backend_conformance_test.go", id, test)
		}
		tested[id] = true
		if inDoc[id] == 0 {
			t.Errorf("rule %s has a test but is not in docs/protocol.md", id)
		}
	}
	for _, r := range conformanceRules {
		if tested[r.id] {
			t.Errorf("rule %s has two tests", r.id)
		}
		tested[r.id] = true
		if inDoc[r.id] == 0 {
			t.Errorf("rule %s has a test but is not in docs/protocol.md", r.id)
		}
	}
	for id, n := range inDoc {
		if !tested[id] {
			t.Errorf("docs/protocol.md states rule %s, which no conformance test checks", id)
		}
		if n > 1 {
			t.Errorf("docs/protocol.md states rule %s %d times", id, n)
		}
	}
}

// confServer serves one memStore session over a real websocket with the
// given options; a newer connection replaces the older, as in the backend.
type confServer struct {
	srv    *httptest.Server
	ctx    context.Context
	stop   context.CancelFunc
	mu     sync.Mutex
	live   context.CancelCauseFunc
	done   chan struct{}
	wg     sync.WaitGroup
	errs   chan error // what ServeConn returned, per connection
	opened atomic.Int32
}

func startConf(t *testing.T, store *memStore, opts ServerOptions) *confServer {
	t.Helper()
	s := &confServer{errs: make(chan error, 64)}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			WriteAPIError(w, http.StatusUnauthorized, CodeUnauthorized, "bad token")
			return
		}
		conn, err := Upgrade(w, r)
		if err != nil {
			return
		}
		s.wg.Add(1)
		defer s.wg.Done()
		s.opened.Add(1)
		ctx, cancel := context.WithCancelCause(s.ctx)
		done := make(chan struct{})
		s.mu.Lock()
		if s.live != nil {
			s.live(ErrReplaced)
			<-s.done
		}
		s.live, s.done = cancel, done
		s.mu.Unlock()
		err = ServeConn(ctx, conn, store, opts)
		close(done)
		cancel(nil)
		select {
		case s.errs <- err:
		default:
		}
	}))
	t.Cleanup(func() {
		s.stop()
		s.srv.CloseClientConnections()
		s.srv.Close()
		s.wg.Wait()
	})
	return s
}

func (s *confServer) url() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/api/v1/ws" }

// rawClient is a hand-written protocol client: it sends exactly what a test
// says, as a client written in another language from the document would.
type rawClient struct {
	t    *testing.T
	conn *websocket.Conn
	msgs chan rawMsg // what the server sent, in order, ending with the close
}

type rawMsg struct {
	text  []byte
	ctrl  *Control
	close int // the close code, when the connection ended
	err   error
}

func dialRaw(t *testing.T, s *confServer) *rawClient {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{Subprotocol}}
	conn, _, err := d.Dial(s.url(), http.Header{"Authorization": {"Bearer tok"}})
	if err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, conn: conn, msgs: make(chan rawMsg, 1024)}
	t.Cleanup(func() { conn.Close() })
	return c
}

// start reads everything the server sends onto c.msgs.
func (c *rawClient) start() {
	go func() {
		for {
			_, b, err := c.conn.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				m := rawMsg{err: err}
				if errors.As(err, &ce) {
					m.close = ce.Code
				}
				c.msgs <- m
				close(c.msgs)
				return
			}
			m := rawMsg{text: b}
			m.ctrl, m.err = ParseControl(b)
			c.msgs <- m
		}
	}()
}

func (c *rawClient) send(typ int, b []byte) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.conn.WriteMessage(typ, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawClient) sendText(s string) { c.t.Helper(); c.send(websocket.TextMessage, []byte(s)) }

func helloJSON(next uint64) string {
	return fmt.Sprintf(`{"type":"hello","protocol":1,"session_id":"s_test","config_key":%q,"next_seq":%d}`, testConfigKey, next)
}

// hello says hello and returns the welcome's raw JSON.
func (c *rawClient) hello(next uint64) *rawMsg {
	c.t.Helper()
	c.sendText(helloJSON(next))
	c.start()
	m := c.next(5 * time.Second)
	if m.ctrl == nil || m.ctrl.Type != TypeWelcome {
		c.t.Fatalf("answer to hello: %+v %s", m, m.text)
	}
	return &m
}

func (c *rawClient) next(within time.Duration) rawMsg {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatal("connection already closed")
		}
		return m
	case <-time.After(within):
		c.t.Fatalf("nothing from the server within %v", within)
	}
	panic("unreachable")
}

// closed waits for the end of the connection and returns the last error
// message the server sent before it and the close code.
func (c *rawClient) closed(within time.Duration) (errCode string, closeCode int, err error) {
	c.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatal("connection already closed")
			}
			if m.ctrl != nil && m.ctrl.Type == TypeError {
				errCode = m.ctrl.Code
			}
			if m.text == nil {
				return errCode, m.close, m.err
			}
		case <-deadline:
			c.t.Fatalf("the server did not close the connection within %v", within)
		}
	}
}

func (c *rawClient) wantClose(within time.Duration, code string, closeCode int) {
	c.t.Helper()
	gotCode, gotClose, err := c.closed(within)
	if gotClose != closeCode || gotCode != code {
		c.t.Errorf("connection ended with error %q and close %d (%v), want %q and %d", gotCode, gotClose, err, code, closeCode)
	}
}

func hbFrame(seq uint64, payload string) []byte {
	return AppendFrame(nil, Header{Kind: KindData, Track: TrackHeartbeat, Seq: seq, Time: time.UnixMicro(1795687200000000)}, []byte(payload))
}

var fastOpts = ServerOptions{Heartbeat: 200 * time.Millisecond, HelloTimeout: 300 * time.Millisecond}

func testUpgradeNeedsSubprotocol(t *testing.T) {
	s := startConf(t, newMemStore(), fastOpts)
	_, resp, err := websocket.DefaultDialer.Dial(s.url(), http.Header{"Authorization": {"Bearer tok"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("upgrade without the subprotocol: err %v, resp %v; want HTTP 400", err, resp)
	}
}

func testHelloFirstWithinTimeout(t *testing.T) {
	s := startConf(t, newMemStore(), fastOpts)
	for name, first := range map[string]func(*rawClient){
		"nothing":  func(*rawClient) {},
		"ack":      func(c *rawClient) { c.sendText(`{"type":"ack","seq":1}`) },
		"binary":   func(c *rawClient) { c.send(websocket.BinaryMessage, hbFrame(1, "x")) },
		"not json": func(c *rawClient) { c.sendText(`hello`) },
	} {
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, s)
			first(c)
			c.start()
			c.wantClose(3*time.Second, CodeBadMessage, 4400)
		})
	}
}

func testHelloProtocol(t *testing.T) {
	s := startConf(t, newMemStore(), fastOpts)
	c := dialRaw(t, s)
	c.sendText(strings.Replace(helloJSON(1), `"protocol":1`, `"protocol":2`, 1))
	c.start()
	c.wantClose(3*time.Second, CodeUnsupportedProtocol, 4426)
}

func testWelcomeFields(t *testing.T) {
	s := startConf(t, newMemStore(), fastOpts)
	c := dialRaw(t, s)
	w := c.hello(1)
	var got map[string]any
	json.Unmarshal(w.text, &got)
	want := map[string]any{"type": "welcome", "session_id": "s_test", "last_ack": 0.0, "state": "active", "heartbeat_ms": 200.0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("welcome of a fresh session = %s, want %v", w.text, want)
	}
}

func testHelloNextSeqRequired(t *testing.T) {
	s := startConf(t, newMemStore(), fastOpts)
	for _, h := range []string{helloJSON(0), strings.Replace(helloJSON(1), `,"next_seq":1`, ``, 1)} {
		c := dialRaw(t, s)
		c.sendText(h)
		c.start()
		c.wantClose(3*time.Second, CodeBadMessage, 4400)
	}
}

// waitAck reads until an ack of seq arrives.
func (c *rawClient) waitAck(seq uint64) {
	c.t.Helper()
	for {
		m := c.next(5 * time.Second)
		if m.text == nil {
			c.t.Fatalf("connection closed (%d, %v) before the ack of %d", m.close, m.err, seq)
		}
		if m.ctrl != nil && m.ctrl.Type == TypeAck && m.ctrl.Seq >= seq {
			if m.ctrl.Seq != seq {
				c.t.Fatalf("ack %d, want %d", m.ctrl.Seq, seq)
			}
			return
		}
	}
}

func testStoreInOrderDropDuplicates(t *testing.T) {
	store := newMemStore()
	s := startConf(t, store, fastOpts)
	c := dialRaw(t, s)
	c.hello(1)
	for i := uint64(1); i <= 3; i++ {
		c.send(websocket.BinaryMessage, hbFrame(i, fmt.Sprintf("message %d", i)))
	}
	c.waitAck(3)
	// A resend of stored messages (an ack was lost) is dropped; the next
	// new one is stored.
	c.send(websocket.BinaryMessage, hbFrame(2, "resend"))
	c.send(websocket.BinaryMessage, hbFrame(4, "message 4"))
	c.waitAck(4)
	store.checkExactlyOnce(t, 4)
}

func testGapCloses(t *testing.T) {
	s := startConf(t, newMemStore(), fastOpts)
	c := dialRaw(t, s)
	c.hello(1)
	c.send(websocket.BinaryMessage, hbFrame(1, "a"))
	c.send(websocket.BinaryMessage, hbFrame(3, "c"))
	c.wantClose(3*time.Second, CodeSequenceGap, 4422)
}

func storeWith(t *testing.T, n int) *memStore {
	t.Helper()
	store := newMemStore()
	var frames []Frame
	for i := 1; i <= n; i++ {
		b := hbFrame(uint64(i), fmt.Sprintf("message %d", i))
		h, p, _ := DecodeFrame(b)
		frames = append(frames, Frame{Header: h, Payload: p, Raw: b})
	}
	if err := store.Store(context.Background(), frames); err != nil {
		t.Fatal(err)
	}
	return store
}

func testSpoolBehindConflict(t *testing.T) {
	store := storeWith(t, 5)
	s := startConf(t, store, fastOpts)
	// A client that says it numbers from 3 while the backend has 1..5: a
	// resend below 3 is a duplicate, but a message numbered 3..5 is a new
	// one that would be dropped as a duplicate.
	c := dialRaw(t, s)
	if w := c.hello(3); w.ctrl.LastAck != 5 {
		t.Fatalf("welcome last_ack %d", w.ctrl.LastAck)
	}
	c.send(websocket.BinaryMessage, hbFrame(2, "message 2"))
	c.send(websocket.BinaryMessage, hbFrame(3, "new message"))
	c.wantClose(3*time.Second, CodeSequenceConflict, 4412)
	// The client that renumbers from last_ack + 1 goes on.
	c = dialRaw(t, s)
	c.hello(1)
	c.send(websocket.BinaryMessage, hbFrame(6, "message 6"))
	c.waitAck(6)
	store.checkExactlyOnce(t, 6)
}

func testBinaryTooLarge(t *testing.T) {
	// A heartbeat long enough for 4 MiB to arrive under the race detector.
	s := startConf(t, newMemStore(), ServerOptions{Heartbeat: 5 * time.Second})
	c := dialRaw(t, s)
	c.hello(1)
	big := make([]byte, MaxFrameBytes+1)
	copy(big, hbFrame(1, ""))
	// The server stops storing at the limit, but reads on until the close
	// handshake: the client sees 4413, not 1009 and not a TCP reset.
	werr := make(chan error, 1)
	go func() {
		c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		werr <- c.conn.WriteMessage(websocket.BinaryMessage, big)
	}()
	code, cc, err := c.closed(10 * time.Second)
	if code != CodeTooLarge || cc != 4413 {
		t.Errorf("frame over the limit: error %q, close %d (%v); want too_large and 4413", code, cc, err)
	}
	if err := <-werr; errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the client's write saw a TCP reset: %v", err)
	}
	// Exactly the limit is fine.
	c = dialRaw(t, s)
	c.hello(1)
	c.send(websocket.BinaryMessage, big[:MaxFrameBytes])
	c.waitAck(1)
}

func testTextTooLarge(t *testing.T) {
	s := startConf(t, newMemStore(), fastOpts)
	c := dialRaw(t, s)
	c.hello(1)
	c.sendText(`{"type":"command_ack","id":"` + strings.Repeat("x", MaxControlBytes) + `"}`)
	c.wantClose(3*time.Second, CodeTooLarge, 4413)
}

func testMalformedFrame(t *testing.T) {
	s := startConf(t, newMemStore(), fastOpts)
	good := hbFrame(1, "x")
	mut := func(i int, v byte) []byte { b := slices.Clone(good); b[i] = v; return b }
	for name, b := range map[string][]byte{
		"short": good[:19], "version": mut(0, 2), "kind for track": mut(1, byte(KindMedia)),
		"flags": mut(2, 0x04), "track": mut(3, 5), "seq 0": hbFrame(0, "x"),
	} {
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, s)
			c.hello(1)
			c.send(websocket.BinaryMessage, b)
			c.wantClose(3*time.Second, CodeBadMessage, 4400)
		})
	}
}

func testUnknownControl(t *testing.T) {
	s := startConf(t, newMemStore(), fastOpts)
	for _, m := range []string{`{"type":"bogus"}`, `{"type":"ack","seq":1}`, `{"type":"hello","protocol":1}`, `[]`} {
		c := dialRaw(t, s)
		c.hello(1)
		c.sendText(m)
		c.wantClose(3*time.Second, CodeBadMessage, 4400)
	}
}

// slowStore holds Store until released, to show acks wait for it.
type slowStore struct {
	*memStore
	release chan struct{}
}

func (s *slowStore) Store(ctx context.Context, f []Frame) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.memStore.Store(ctx, f)
}

func testAckOnlyWhenDurable(t *testing.T) {
	store := &slowStore{memStore: newMemStore(), release: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := Upgrade(w, r)
		if err != nil {
			return
		}
		ServeConn(r.Context(), conn, store, fastOpts)
	}))
	defer srv.Close()
	d := websocket.Dialer{Subprotocols: []string{Subprotocol}}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &rawClient{t: t, conn: conn, msgs: make(chan rawMsg, 64)}
	c.hello(1)
	c.send(websocket.BinaryMessage, hbFrame(1, "message 1"))
	select {
	case m := <-c.msgs:
		if m.ctrl != nil && m.ctrl.Type == TypeAck {
			t.Fatal("acked before the store returned")
		}
	case <-time.After(300 * time.Millisecond):
	}
	close(store.release)
	c.waitAck(1)
}

func testServerPings(t *testing.T) {
	s := startConf(t, newMemStore(), fastOpts)
	c := dialRaw(t, s)
	var pings atomic.Int32
	c.conn.SetPingHandler(func(d string) error {
		pings.Add(1)
		return c.conn.WriteControl(websocket.PongMessage, []byte(d), time.Now().Add(time.Second))
	})
	c.hello(1)
	time.Sleep(1100 * time.Millisecond) // 5.5 heartbeats
	if n := pings.Load(); n < 4 || n > 7 {
		t.Errorf("%d pings in 5.5 heartbeats, want one per heartbeat", n)
	}
	// Answering pings keeps a client that sends nothing else alive.
	select {
	case m := <-c.msgs:
		t.Errorf("connection of a client that answers pings: %+v", m)
	default:
	}
}

func testSilentClientTimesOut(t *testing.T) {
	s := startConf(t, newMemStore(), fastOpts)
	c := dialRaw(t, s)
	c.conn.SetPingHandler(func(string) error { return nil }) // never answers
	start := time.Now()
	c.hello(1)
	c.wantClose(3*time.Second, CodeTimeout, 4408)
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("closed after %v, before 3 heartbeats", d)
	}
}

// halfSend starts a fragmented binary message of n bytes without its final
// fragment and pings every period until stop is closed.
func halfSend(t *testing.T, conn *websocket.Conn, n int, period time.Duration, stop <-chan struct{}) {
	w, err := conn.NextWriter(websocket.BinaryMessage)
	if err != nil {
		t.Error(err)
		return
	}
	b := hbFrame(1, "")
	b = append(b, make([]byte, n-len(b))...)
	if _, err := w.Write(b); err != nil { // flushed as non-final fragments
		return
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second)) != nil {
				return
			}
		}
	}
}

func testHalfSentMessageTimesOut(t *testing.T) {
	s := startConf(t, newMemStore(), fastOpts)
	c := dialRaw(t, s)
	c.hello(1)
	stop := make(chan struct{})
	defer close(stop)
	go halfSend(t, c.conn, 1<<20, 50*time.Millisecond, stop)
	start := time.Now()
	c.wantClose(3*time.Second, CodeTimeout, 4408)
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("a message without its final fragment, with pings, lived %v; the limit is 3 heartbeats (600 ms)", d)
	}
}

func testMemoryBudget(t *testing.T) {
	// 8 messages of 1 MiB against a budget of 2.5 MiB: some connections
	// find it exhausted, the others hold their part until the message
	// timeout, long enough here for a loaded machine to send 2.5 MiB.
	budget := NewBudget(5 << 19)
	opts := ServerOptions{Heartbeat: 500 * time.Millisecond, MessageTimeout: 5 * time.Second, Budget: budget}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var conns []*rawClient
	var servers []*confServer
	for range 8 {
		s := startConf(t, newMemStore(), opts) // 8 sessions
		c := dialRaw(t, s)
		c.hello(1)
		conns, servers = append(conns, c), append(servers, s)
	}
	for _, c := range conns {
		wg.Add(1)
		go func() { defer wg.Done(); halfSend(t, c.conn, 1<<20, 50*time.Millisecond, stop) }()
	}
	// Why each connection ended, as the server saw it.
	var peak int64
	got := map[string]int{}
	for _, s := range servers {
		select {
		case err := <-s.errs:
			var re *RemoteError
			errors.As(err, &re)
			if re != nil {
				got[re.Code]++
			} else {
				got[fmt.Sprint(err)]++
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("connections still open; ended so far %v", got)
		}
		peak = max(peak, budget.Used())
	}
	close(stop)
	wg.Wait()
	// Which ones find the budget exhausted depends on how their bytes
	// interleave; the ones that do not wait for their message timeout.
	if got[CodeUnavailable] == 0 || got[CodeUnavailable]+got[CodeTimeout] != 8 {
		t.Errorf("connections ended with %v: want some unavailable (4503, over the budget) and the rest timeout (4408)", got)
	}
	waitFor(t, "the budget to be given back", func() bool { return budget.Used() == 0 })
	if peak > 5<<19 {
		t.Errorf("budget peaked at %d bytes, over its 2.5 MiB", peak)
	}
}

func testCommandsResentWithBackoff(t *testing.T) {
	store := newMemStore()
	store.addCommand(Control{Type: TypeCommand, ID: "c_1", Command: CommandWarn, Text: "hi"})
	opts := ServerOptions{Heartbeat: 100 * time.Millisecond}
	s := startConf(t, store, opts)
	c := dialRaw(t, s)
	c.hello(1)
	// Sent at once, then after 3, 6, 12 and 24 heartbeats (0, 300, 900,
	// 2100, 4500 ms), then no more on this connection.
	var at []time.Duration
	start := time.Now()
	deadline := time.After(6 * time.Second)
loop:
	for {
		select {
		case m := <-c.msgs:
			if m.text == nil {
				t.Fatalf("connection closed: %d %v", m.close, m.err)
			}
			if m.ctrl != nil && m.ctrl.Type == TypeCommand {
				at = append(at, time.Since(start))
			}
		case <-deadline:
			break loop
		}
	}
	if len(at) != 1+commandResends {
		t.Fatalf("an unacknowledged command was sent %d times (at %v), want %d", len(at), at, 1+commandResends)
	}
	for i := 2; i < len(at); i++ {
		if gap, prev := at[i]-at[i-1], at[i-1]-at[i-2]; gap < prev*3/2 {
			t.Errorf("resends at %v: the wait does not double", at)
		}
	}
	// A new connection sends it again after its welcome.
	c = dialRaw(t, s)
	c.hello(1)
	if m := c.next(time.Second); m.ctrl == nil || m.ctrl.Type != TypeCommand || m.ctrl.ID != "c_1" {
		t.Errorf("after a new welcome: %s", m.text)
	}
}

func testCommandAckIdempotent(t *testing.T) {
	store := newMemStore()
	store.addCommand(Control{Type: TypeCommand, ID: "c_1", Command: CommandChat, Text: "hi"})
	s := startConf(t, store, ServerOptions{Heartbeat: 100 * time.Millisecond})
	c := dialRaw(t, s)
	c.hello(1)
	if m := c.next(time.Second); m.ctrl == nil || m.ctrl.ID != "c_1" {
		t.Fatalf("first message %s", m.text)
	}
	for range 2 {
		c.sendText(`{"type":"command_ack","id":"c_1"}`)
	}
	c.sendText(`{"type":"command_ack","id":"c_unknown"}`)
	c.send(websocket.BinaryMessage, hbFrame(1, "message 1"))
	c.waitAck(1) // the connection lives on
	deadline := time.After(500 * time.Millisecond)
	for {
		select {
		case m := <-c.msgs:
			if m.ctrl != nil && m.ctrl.Type == TypeCommand {
				t.Fatalf("an acknowledged command was sent again")
			}
			if m.text == nil {
				t.Fatalf("closed: %d %v", m.close, m.err)
			}
		case <-deadline:
			return
		}
	}
}

func testFinish(t *testing.T) {
	// An empty session finishes at 0; finished names its last_seq even then.
	s := startConf(t, newMemStore(), fastOpts)
	c := dialRaw(t, s)
	c.hello(1)
	c.sendText(`{"type":"finish","last_seq":0}`)
	m := c.next(3 * time.Second)
	var got map[string]any
	json.Unmarshal(m.text, &got)
	if got["type"] != "finished" || got["last_seq"] != 0.0 || len(fmt.Sprint(got["digest"])) != 64 {
		t.Errorf("finished of an empty session: %s", m.text)
	}
	if _, cc, _ := c.closed(3 * time.Second); cc != websocket.CloseNormalClosure {
		t.Errorf("close after finished: %d", cc)
	}
	// A session with data.
	store := newMemStore()
	s = startConf(t, store, fastOpts)
	c = dialRaw(t, s)
	c.hello(1)
	c.send(websocket.BinaryMessage, hbFrame(1, "message 1"))
	c.sendText(`{"type":"finish","last_seq":1}`)
	for {
		m := c.next(3 * time.Second)
		if m.ctrl != nil && m.ctrl.Type == TypeFinished {
			if d := sha256Chain([32]byte{}, hbFrame(1, "message 1")); m.ctrl.LastSeq != 1 || m.ctrl.Digest != fmt.Sprintf("%x", d) {
				t.Errorf("finished %s", m.text)
			}
			break
		}
	}
}

func testFinishMismatch(t *testing.T) {
	store := storeWith(t, 2)
	s := startConf(t, store, fastOpts)
	for _, last := range []int{1, 3} {
		c := dialRaw(t, s)
		c.hello(3)
		c.sendText(fmt.Sprintf(`{"type":"finish","last_seq":%d}`, last))
		c.wantClose(3*time.Second, CodeSequenceConflict, 4412)
	}
	if store.finished {
		t.Error("finished on a wrong last_seq")
	}
}

func testReplaced(t *testing.T) {
	s := startConf(t, newMemStore(), fastOpts)
	c1 := dialRaw(t, s)
	c1.hello(1)
	c2 := dialRaw(t, s)
	c2.hello(1)
	c1.wantClose(3*time.Second, CodeReplaced, 4409)
	// The older connection's client reconnects with backoff: a second
	// connection with the same token cannot lock the first client out.
	if (&RemoteError{Code: CodeReplaced}).Permanent() {
		t.Error("replaced is permanent: the replaced client would stop for good")
	}
	c3 := dialRaw(t, s)
	c3.hello(1)
	c2.wantClose(3*time.Second, CodeReplaced, 4409)

	// A real client whose connection an intruder replaces comes back,
	// takes the session over again and finishes.
	store := newMemStore()
	s = startConf(t, store, fastOpts)
	spool := mustOpen(t, t.TempDir(), SpoolOptions{})
	defer spool.Close()
	cl := newTestClient(t, s.url(), spool, nil)
	defer cl.Close()
	sendN(t, cl, 1, 5)
	waitFor(t, "5 stored", func() bool { return store.count() == 5 })
	intruder := dialRaw(t, s)
	intruder.hello(6)
	intruder.wantClose(5*time.Second, CodeReplaced, 4409)
	sendN(t, cl, 6, 10)
	finish(t, cl, store, 10)
}

func testShutdown(t *testing.T) {
	s := startConf(t, newMemStore(), fastOpts)
	c := dialRaw(t, s)
	c.hello(1)
	s.stop()
	c.wantClose(3*time.Second, CodeUnavailable, 4503)
}

func testStoreFailure(t *testing.T) {
	store := newMemStore()
	store.storeErr = errors.New("disk full")
	s := startConf(t, store, fastOpts)
	c := dialRaw(t, s)
	c.hello(1)
	c.send(websocket.BinaryMessage, hbFrame(1, "x"))
	c.wantClose(3*time.Second, CodeInternal, 4500)
}

func testErrorBeforeClose(t *testing.T) {
	// Every close code of the table has its error code, and back.
	for code, cc := range closeCodes {
		if CloseCode(code) != cc {
			t.Errorf("CloseCode(%s) = %d, want %d", code, CloseCode(code), cc)
		}
		if code == CodeBadRequest {
			continue
		}
		if got := codeForCloseCode(cc); got != code {
			t.Errorf("codeForCloseCode(%d) = %q, want %q", cc, got, code)
		}
	}
	doc := readProtocolDoc(t)
	for code, cc := range closeCodes {
		if code == CodeBadRequest {
			continue
		}
		if !strings.Contains(doc, fmt.Sprintf("| %d | `%s` |", cc, code)) {
			t.Errorf("the close code table lacks | %d | `%s` |", cc, code)
		}
	}
	// The error message comes before the close (the cases above check it
	// per code); after its close frame the server waits for the client's.
	s := startConf(t, newMemStore(), fastOpts)
	c := dialRaw(t, s)
	c.sendText(helloJSON(1))
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, b, err := c.conn.ReadMessage(); err != nil || !strings.Contains(string(b), "welcome") {
		t.Fatalf("welcome: %s %v", b, err)
	}
	c.sendText(`{"type":"bogus"}`)
	if _, b, err := c.conn.ReadMessage(); err != nil || !strings.Contains(string(b), `"error"`) {
		t.Fatalf("error message: %s %v", b, err)
	}
	// The server's close frame: answer it late; the server must still be
	// there to read the answer (it lingers).
	c.conn.SetCloseHandler(func(int, string) error { return nil })
	if _, _, err := c.conn.ReadMessage(); !websocket.IsCloseError(err, 4400) {
		t.Fatalf("after the error: %v, want close 4400", err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second)); err != nil {
		t.Errorf("the server did not wait for the client's close frame: %v", err)
	}
}

func joinServer(t *testing.T, wsURL string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(JoinResponse{
			SessionID: "s_1", Token: "tok", Policy: json.RawMessage(`{}`), WSURL: wsURL, SpoolKey: make([]byte, 32),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func testWSURLSameOrigin(t *testing.T) {
	for _, ws := range []string{
		"ws://attacker.example/api/v1/ws", "wss://127.0.0.1/api/v1/ws", "//attacker.example/ws",
		"ws://127.0.0.1:1/api/v1/ws", "http://attacker.example/ws", "ws://u:p@127.0.0.1/ws",
	} {
		srv := joinServer(t, ws)
		if strings.Contains(ws, "u:p@") {
			u, _ := url.Parse(srv.URL)
			ws = "ws://u:p@" + u.Host + "/ws"
			srv = joinServer(t, ws)
		}
		_, err := Join(context.Background(), nil, srv.URL, JoinRequest{Code: "DEMO"})
		if err == nil {
			t.Errorf("ws_url %q from %s was accepted", ws, srv.URL)
		}
		_, err = Resume(context.Background(), nil, srv.URL, "tok")
		if err == nil {
			t.Errorf("resume: ws_url %q from %s was accepted", ws, srv.URL)
		}
	}
}

func testWSURLResolution(t *testing.T) {
	tests := []struct{ join, ws, want string }{
		{"http://127.0.0.1:8080/api/v1/join", "/api/v1/ws", "ws://127.0.0.1:8080/api/v1/ws"},
		{"https://exam.example/api/v1/join", "/api/v1/ws", "wss://exam.example/api/v1/ws"},
		{"https://exam.example/p/api/v1/join", "ws", "wss://exam.example/p/api/v1/ws"},
		{"https://exam.example/api/v1/join", "wss://exam.example:443/api/v1/ws", "wss://exam.example:443/api/v1/ws"},
		{"http://exam.example/api/v1/join", "http://exam.example/ws", "ws://exam.example/ws"},
		{"https://exam.example/api/v1/join", "//exam.example/ws", "wss://exam.example/ws"},
		{"https://exam.example/api/v1/join", "ws://exam.example/ws", ""},
		{"https://exam.example/api/v1/join", "wss://exam.example.evil/ws", ""},
		{"http://exam.example/api/v1/join", "ws://exam.example:8080/ws", ""},
	}
	for _, tt := range tests {
		j, _ := url.Parse(tt.join)
		got, err := ResolveWSURL(j, tt.ws)
		switch {
		case tt.want == "" && !errors.Is(err, ErrForeignWSURL):
			t.Errorf("ResolveWSURL(%s, %s) = %v, %v; want ErrForeignWSURL", tt.join, tt.ws, got, err)
		case tt.want != "" && (err != nil || got.String() != tt.want):
			t.Errorf("ResolveWSURL(%s, %s) = %v, %v; want %s", tt.join, tt.ws, got, err, tt.want)
		}
	}
}

func testJSONRequiredFields(t *testing.T) {
	for _, tt := range []struct {
		c    Control
		want string
	}{
		{Control{Type: TypeWelcome, SessionID: "s", State: StateActive, HeartbeatMS: 10000}, `{"type":"welcome","session_id":"s","last_ack":0,"state":"active","heartbeat_ms":10000}`},
		{Control{Type: TypeFinish}, `{"type":"finish","last_seq":0}`},
		{Control{Type: TypeFinished, Digest: "ab"}, `{"type":"finished","last_seq":0,"digest":"ab"}`},
		{Control{Type: TypeCommandAck, ID: "c_1"}, `{"type":"command_ack","id":"c_1"}`},
	} {
		got, _ := json.Marshal(tt.c)
		if string(got) != tt.want {
			t.Errorf("got %s, want %s", got, tt.want)
		}
	}
	// Receivers ignore unknown fields.
	if _, err := ParseControl([]byte(`{"type":"ack","seq":3,"future":true}`)); err != nil {
		t.Errorf("unknown field: %v", err)
	}
}

// docVectors reads the `name = value` lines of the document's ```vectors
// blocks.
func docVectors(t *testing.T) map[string]string {
	t.Helper()
	doc := readProtocolDoc(t)
	out := map[string]string{}
	for _, block := range regexp.MustCompile("(?s)```vectors\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		for _, line := range strings.Split(block[1], "\n") {
			if k, v, ok := strings.Cut(line, " = "); ok {
				out[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

// vectorFrames are the frames of the document's test vectors.
func vectorFrames() [][]byte {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	return [][]byte{
		AppendFrame(nil, Header{Kind: KindData, Track: TrackHeartbeat, Seq: 1, Time: t0}, []byte("heartbeat 1")),
		AppendFrame(nil, Header{Kind: KindEvent, Track: TrackEvents, Seq: 2, Time: t0.Add(500 * time.Millisecond)}, []byte(`{"type":"session.started","resumed":false,"ui":"desktop"}`)),
		AppendFrame(nil, Header{Kind: KindMedia, Flags: FlagKeyframe, Track: TrackCamera, Seq: 3, Time: t0.Add(1234567 * time.Microsecond)}, []byte{0, 0, 0, 1, 0x65, 0x88}),
	}
}

func spaced(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%02x", c)
	}
	return sb.String()
}

func testFrameVectors(t *testing.T) {
	v := docVectors(t)
	frames := vectorFrames()
	var d, prev [32]byte
	ivr := []byte("IVREC1\n\x00")
	want := map[string]string{}
	for i, f := range frames {
		want[fmt.Sprintf("frame%d", i+1)] = spaced(f)
		d = sha256Chain(d, f)
		if c := Chain(prev, f); c != d {
			t.Errorf("Chain after frame %d = %x, the reference chain says %x", i+1, c, d)
		}
		prev = d
		want[fmt.Sprintf("digest%d", i+1)] = fmt.Sprintf("%x", d)
		ivr = append(ivr, byte(len(f)>>24), byte(len(f)>>16), byte(len(f)>>8), byte(len(f)))
		ivr = append(ivr, f...)
	}
	want["digest0"] = fmt.Sprintf("%x", [32]byte{})
	want["ivr"] = spaced(append([]byte("IVREC1\n\x00"), ivr[8:8+4+len(frames[0])]...))
	for k, w := range want {
		if v[k] != w {
			t.Errorf("docs/protocol.md vector %s = %q, want %q", k, v[k], w)
		}
	}
	for _, f := range frames {
		if _, _, err := DecodeFrame(f); err != nil {
			t.Errorf("vector frame does not decode: %v", err)
		}
	}
}

// testKeyframeCommandAnnounced: the client's hello lists the keyframe
// command; a keyframe command reaches the Handler with its track and is
// acked like any other.
func testKeyframeCommandAnnounced(t *testing.T) {
	hellos := make(chan []byte, 4)
	acks := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := Upgrade(w, r)
		if err != nil {
			return
		}
		defer conn.Close()
		_, hello, err := conn.ReadMessage()
		if err != nil {
			return
		}
		hellos <- hello
		conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"welcome","session_id":"s_test","last_ack":0,"state":"active","heartbeat_ms":200}`))
		conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"command","id":"c_k","command":"keyframe","text":"screen","at":"2026-11-26T10:12:03Z"}`))
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var m Control
			if json.Unmarshal(b, &m) == nil && m.Type == TypeCommandAck {
				acks <- m.ID
			}
		}
	}))
	defer srv.Close()
	h := &recordingHandler{}
	c := newTestClient(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/ws", mustOpen(t, t.TempDir(), SpoolOptions{}), h)
	defer c.Close()
	var hello struct {
		Commands []string `json:"commands"`
	}
	select {
	case b := <-hellos:
		if err := json.Unmarshal(b, &hello); err != nil || !slices.Contains(hello.Commands, CommandKeyframe) {
			t.Fatalf("hello %s does not list the keyframe command", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no hello")
	}
	select {
	case id := <-acks:
		if id != "c_k" {
			t.Fatalf("ack of %q", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the keyframe command was not acked")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.cmds) != 1 || h.cmds[0].Command != CommandKeyframe || h.cmds[0].Text != "screen" {
		t.Errorf("handler got %+v", h.cmds)
	}
}
