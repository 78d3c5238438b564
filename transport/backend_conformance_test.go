package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/invigil/invigil/backend"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

// These tests run the protocol's rules that the backend's session store
// decides against the reference backend itself.

type endHandler struct{ ended chan transport.Command }

func (h *endHandler) Command(_ context.Context, c transport.Command) {
	if c.Command == transport.CommandEnd {
		h.ended <- c
	}
}

func event(typ string) transport.Message {
	b, _ := json.Marshal(map[string]string{"type": typ})
	return transport.Message{Kind: transport.KindEvent, Track: transport.TrackEvents, Time: time.Now(), Payload: b}
}

// TestDrainAfterEnd: after a proctor's end, a client that drops and comes
// back (a restart with its spool) still uploads what it captured before the
// end, and finishes; only then is the session ended, and closed to new
// connections (docs/protocol.md section 2.5, "Ending an attempt").
func TestDrainAfterEnd(t *testing.T) {
	ctx := context.Background()
	b, err := backend.Open(backend.Config{DataDir: t.TempDir(), Heartbeat: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	defer func() {
		srv.CloseClientConnections()
		srv.Close()
		http.DefaultClient.CloseIdleConnections()
		b.Close()
	}()
	if _, err := b.EnsureDemoExam(ctx); err != nil {
		t.Fatal(err)
	}
	jr, err := transport.Join(ctx, nil, srv.URL, transport.JoinRequest{Code: "DEMO", Client: transport.ClientInfo{App: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	var env policy.Signed
	json.Unmarshal(jr.Policy, &env)
	ck, err := policy.ConfigKey(env.Policy)
	if err != nil {
		t.Fatal(err)
	}
	spool, err := transport.OpenSpool(t.TempDir(), jr.SpoolKey, transport.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	h := &endHandler{ended: make(chan transport.Command, 1)}
	newClient := func() *transport.Client {
		c, err := transport.NewClient(transport.ClientConfig{
			URL: jr.WSURL, Token: jr.Token, SessionID: jr.SessionID, ConfigKey: ck, Spool: spool, Handler: h,
			Heartbeat: 300 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Start()
		return c
	}
	c := newClient()
	for range 3 {
		c.Spool().Append(event("focus.lost"))
	}
	if _, err := b.SendCommand(ctx, jr.SessionID, transport.CommandEnd, "time is up"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("end not delivered")
	}
	// The client stops capture, appends its last event, and drops before
	// it has uploaded everything.
	c.Spool().Append(event("focus.gained"))
	c.Spool().Append(transport.Message{Kind: transport.KindEvent, Track: transport.TrackEvents, Time: time.Now(), Payload: []byte(`{"type":"session.finished","reason":"ended"}`)})
	c.Close()
	// A restart with the same spool drains and finishes.
	c = newClient()
	defer c.Close()
	fctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	res, err := c.Finish(fctx)
	if err != nil {
		t.Fatalf("drain after end: %v", err)
	}
	if res.LastSeq != 5 || res.ServerDigest != res.ClientDigest {
		t.Errorf("finish %+v, want last_seq 5 and matching digests", res)
	}
	ss, err := b.ListSessions(ctx)
	if err != nil || len(ss) != 1 || ss[0].State != "ended" || ss[0].LastAck != 5 {
		t.Fatalf("sessions %+v %v: want one ended session with 5 messages", ss, err)
	}
	// Now the session is closed to new connections.
	d := websocket.Dialer{Subprotocols: []string{transport.Subprotocol}}
	conn, resp, err := d.Dial(jr.WSURL, http.Header{"Authorization": {"Bearer " + jr.Token}})
	if err != nil {
		// The backend refuses the upgrade itself (section 2: a token past
		// its lifetime gets the section 1 table's status, 410).
		if resp == nil || resp.StatusCode != http.StatusGone {
			t.Fatalf("a connection after the end's finish: %v (%v), want HTTP 410 or close 4410", err, resp)
		}
		return
	}
	defer conn.Close()
	hello, _ := json.Marshal(transport.Control{Type: transport.TypeHello, Protocol: 1, SessionID: jr.SessionID, ConfigKey: ck, NextSeq: 6})
	conn.WriteMessage(websocket.TextMessage, hello)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != 4410 {
				t.Errorf("a connection after the end's finish closed with %d, want 4410", ce.Code)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestAdminErrorCodes: the admin API answers 404 not_found for an unknown
// session or track (also the events track, which has no file) and 409
// conflict for a join code that is taken (docs/protocol.md section 7).
func TestAdminErrorCodes(t *testing.T) {
	ctx := context.Background()
	b, err := backend.Open(backend.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	defer func() {
		srv.Close()
		http.DefaultClient.CloseIdleConnections()
		b.Close()
	}()
	if _, err := b.EnsureDemoExam(ctx); err != nil {
		t.Fatal(err)
	}
	jr, err := transport.Join(ctx, nil, srv.URL, transport.JoinRequest{Code: "DEMO", Client: transport.ClientInfo{App: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+b.AdminToken())
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ae transport.APIError
		json.NewDecoder(resp.Body).Decode(&ae)
		return resp.StatusCode, ae.Error.Code
	}
	for _, tt := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "/api/v1/admin/sessions/" + jr.SessionID + "/tracks/events", "", 404, transport.CodeNotFound},
		{"GET", "/api/v1/admin/sessions/" + jr.SessionID + "/tracks/camera", "", 404, transport.CodeNotFound},
		{"GET", "/api/v1/admin/sessions/s_nope/events", "", 404, transport.CodeNotFound},
		{"POST", "/api/v1/admin/sessions/s_nope/commands", `{"command":"warn","text":"x"}`, 404, transport.CodeNotFound},
		{"POST", "/api/v1/admin/exams", `{"name":"Again","code":"DEMO"}`, 409, transport.CodeConflict},
	} {
		if status, code := call(tt.method, tt.path, tt.body); status != tt.status || code != tt.code {
			t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, status, code, tt.status, tt.code)
		}
	}
}

// refEnv is the reference backend with the demo exam and one joined session.
type refEnv struct {
	b   *backend.Backend
	srv *httptest.Server
	jr  *transport.JoinResponse
	ck  string
}

func newRefEnv(t *testing.T) *refEnv {
	t.Helper()
	ctx := context.Background()
	b, err := backend.Open(backend.Config{DataDir: t.TempDir(), Heartbeat: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		http.DefaultClient.CloseIdleConnections()
		b.Close()
	})
	if _, err := b.EnsureDemoExam(ctx); err != nil {
		t.Fatal(err)
	}
	jr, err := transport.Join(ctx, nil, srv.URL, transport.JoinRequest{Code: "DEMO", Client: transport.ClientInfo{App: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	var env policy.Signed
	json.Unmarshal(jr.Policy, &env)
	ck, err := policy.ConfigKey(env.Policy)
	if err != nil {
		t.Fatal(err)
	}
	return &refEnv{b: b, srv: srv, jr: jr, ck: ck}
}

// dialHello dials with token, says hello with session id and config key,
// and returns the close code the backend ends the connection with (0 after
// a welcome).
func (e *refEnv) dialHello(t *testing.T, token, session, ck string) (status, closeCode int) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{transport.Subprotocol}}
	conn, resp, err := d.Dial(e.jr.WSURL, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		if resp == nil {
			t.Fatal(err)
		}
		return resp.StatusCode, 0
	}
	defer conn.Close()
	hello, _ := json.Marshal(transport.Control{Type: transport.TypeHello, Protocol: 1, SessionID: session, ConfigKey: ck, NextSeq: 1})
	conn.WriteMessage(websocket.TextMessage, hello)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, b, err := conn.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return 101, ce.Code
		}
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := transport.ParseControl(b); c != nil && c.Type == transport.TypeWelcome {
			return 101, 0
		}
	}
}

// TestBackendRefusesUpgrade: an upgrade with a bad token answers HTTP 401
// (docs/protocol.md section 2).
func TestBackendRefusesUpgrade(t *testing.T) {
	e := newRefEnv(t)
	if status, _ := e.dialHello(t, "not-a-token", e.jr.SessionID, e.ck); status != http.StatusUnauthorized {
		t.Errorf("upgrade with a bad token: HTTP %d, want 401", status)
	}
}

// TestBackendRefusesHello: a hello with another config key than the
// exam's closes with 4403, one naming another session than the token's with
// 4401 (docs/protocol.md section 2.1).
func TestBackendRefusesHello(t *testing.T) {
	e := newRefEnv(t)
	if _, cc := e.dialHello(t, e.jr.Token, e.jr.SessionID, strings.Repeat("0", 64)); cc != 4403 {
		t.Errorf("wrong config key: close %d, want 4403", cc)
	}
	if _, cc := e.dialHello(t, e.jr.Token, "s_other", e.ck); cc != 4401 {
		t.Errorf("another session: close %d, want 4401", cc)
	}
	if _, cc := e.dialHello(t, e.jr.Token, e.jr.SessionID, e.ck); cc != 0 {
		t.Errorf("the right hello: close %d, want a welcome", cc)
	}
}

// TestBackendResumeAndFinished: resume answers the same session; after its
// finish, resume answers 410 session_finished (docs/protocol.md section 1).
func TestBackendResumeAndFinished(t *testing.T) {
	e := newRefEnv(t)
	ctx := context.Background()
	r, err := transport.Resume(ctx, nil, e.srv.URL, e.jr.Token)
	if err != nil || r.SessionID != e.jr.SessionID || string(r.SpoolKey) != string(e.jr.SpoolKey) {
		t.Fatalf("resume: %+v %v", r, err)
	}
	spool, err := transport.OpenSpool(t.TempDir(), e.jr.SpoolKey, transport.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	c, err := transport.NewClient(transport.ClientConfig{URL: e.jr.WSURL, Token: e.jr.Token, SessionID: e.jr.SessionID, ConfigKey: e.ck, Spool: spool})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Close()
	// An event that is not a JSON object with a type is kept, as invalid.
	c.Spool().Append(transport.Message{Kind: transport.KindEvent, Track: transport.TrackEvents, Time: time.Now(), Payload: []byte("not json")})
	c.Spool().Append(event("session.finished"))
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Finish(fctx); err != nil {
		t.Fatal(err)
	}
	evs, err := e.b.ListEvents(ctx, e.jr.SessionID)
	if err != nil || len(evs) != 2 || evs[0].Type != "invalid" {
		t.Errorf("events %+v %v: want the invalid one kept first", evs, err)
	}
	if _, err := transport.Resume(ctx, nil, e.srv.URL, e.jr.Token); !errors.Is(err, transport.ErrSessionFinished) {
		t.Errorf("resume after finish: %v, want session_finished", err)
	}
}

// TestBackendSpeedTest: the speed test answers the bytes it read; more
// than 8 MiB is 413 (docs/protocol.md section 1).
func TestBackendSpeedTest(t *testing.T) {
	e := newRefEnv(t)
	rate, err := transport.SpeedTest(context.Background(), nil, e.srv.URL, e.jr.Token, 8<<20)
	if err != nil || rate <= 0 {
		t.Errorf("8 MiB speed test: %v %v", rate, err)
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/speedtest", strings.NewReader(strings.Repeat("x", 8<<20+1)))
	req.Header.Set("Authorization", "Bearer "+e.jr.Token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("speed test over 8 MiB: HTTP %d, want 413", resp.StatusCode)
	}
}
