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
		c.Send(event("focus.lost"))
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
	c.Send(event("focus.gained"))
	c.Send(transport.Message{Kind: transport.KindEvent, Track: transport.TrackEvents, Time: time.Now(), Payload: []byte(`{"type":"session.finished","reason":"ended"}`)})
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
	conn, _, err := d.Dial(jr.WSURL, http.Header{"Authorization": {"Bearer " + jr.Token}})
	if err != nil {
		t.Fatal(err)
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
