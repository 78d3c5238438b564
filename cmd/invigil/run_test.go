package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

// TestJoinFailureOutput: each way a join fails, as exam.Join reports it
// against a backend that answers so, gives one console line and an exit
// code; the line names the cause without the class of the error.
func TestJoinFailureOutput(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	pj, _ := json.Marshal(policy.Default())
	signed, err := policy.Sign(priv, pj)
	if err != nil {
		t.Fatal(err)
	}
	envelope, _ := json.Marshal(signed)
	answer := func(policyJSON json.RawMessage, key string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(transport.JoinResponse{SessionID: "s_1", Token: "tok", Exam: transport.ExamInfo{ID: "e_1", Name: "Physics"},
				Policy: policyJSON, ServerKey: key, WSURL: "ws://" + r.Host + "/ws", SpoolKey: make([]byte, 32)})
		}
	}
	apiError := func(status int, code, msg, opensAt string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			e := map[string]string{"code": code, "message": msg}
			if opensAt != "" {
				e["opens_at"] = opensAt
			}
			json.NewEncoder(w).Encode(map[string]any{"error": e})
		}
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	opens := time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC)

	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: nobody listens
		key     string           // the pinned key
		exit    int
		want    string // {server}: the server's URL, {addr} its host:port
	}{
		{name: "nobody listens", exit: exitUnreachable,
			want: "invigil: cannot reach the backend at {server}: dial tcp {addr}: connect: connection refused\n"},
		{name: "not an Invigil backend", handler: http.NotFound, exit: exitUnreachable,
			want: "invigil: cannot reach the backend at {server}: HTTP 404: is this an Invigil backend?\n"},
		{name: "answer cut off", exit: exitUnreachable, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.Write([]byte(`{"session_id"`))
		}, want: "invigil: cannot reach the backend at {server}: reading the answer: unexpected EOF\n"},
		{name: "backend unavailable", handler: apiError(503, "unavailable", "the backend is restarting", ""), exit: exitUnreachable,
			want: "invigil: cannot reach the backend at {server}: the backend is restarting\n"},
		{name: "proxy error", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) }, exit: exitUnreachable,
			want: "invigil: cannot reach the backend at {server}: backend answered\n"},
		{name: "unknown code", handler: apiError(404, "join_code_unknown", "no exam has the join code X", ""), exit: exitJoinRefused,
			want: "invigil: the backend refused to join: no exam has the join code X\n"},
		{name: "not open, no time", handler: apiError(403, "exam_not_open", "the exam is not open", ""), exit: exitJoinRefused,
			want: "invigil: the backend refused to join: the exam is not open\n"},
		{name: "not open yet", handler: apiError(403, "exam_not_open", "the exam is not open", opens.Format(time.RFC3339)), exit: exitJoinRefused,
			want: "invigil: the exam is not open yet; it opens at " + opens.Local().Format(time.RFC1123) + "\n"},
		{name: "pinned key malformed", handler: answer(envelope, ""), key: "ed25519:nonsense", exit: exitBadPolicy,
			want: "invigil: the exam policy does not verify, refusing to start: pinned server key: {keyErr}\n"},
		{name: "no usable key sent", handler: answer(envelope, "none"), exit: exitBadPolicy,
			want: "invigil: the exam policy does not verify, refusing to start: the backend sent no usable public key\n"},
		{name: "malformed envelope", handler: answer(json.RawMessage(`"x"`), policy.FormatPublicKey(pub)), exit: exitBadPolicy,
			want: "invigil: the exam policy does not verify, refusing to start: malformed policy envelope: json: cannot unmarshal string into Go value of type policy.Signed\n"},
		{name: "signed by another key", handler: answer(envelope, ""), key: policy.FormatPublicKey(otherPub), exit: exitBadPolicy,
			want: "invigil: the exam policy does not verify, refusing to start: {verifyErr}\n"},
		{name: "answer not JSON", handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }, exit: exitFailure,
			want: "invigil: join answer is not valid JSON: invalid character '<' looking for beginning of value\n"},
	}
	_, keyErr := policy.ParsePublicKey("ed25519:nonsense")
	_, _, verifyErr := signed.Verify(otherPub)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := dead
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				server = srv.URL
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := exam.Join(ctx, exam.JoinOptions{Server: server, Code: "X", ServerKey: tt.key, SpoolDir: t.TempDir()})
			if err == nil {
				t.Fatal("joined")
			}
			var out bytes.Buffer
			exit := joinFailure(err, server, &out)
			want := strings.NewReplacer("{server}", server, "{addr}", strings.TrimPrefix(server, "http://"),
				"{keyErr}", keyErr.Error(), "{verifyErr}", verifyErr.Error()).Replace(tt.want)
			if exit != tt.exit || out.String() != want {
				t.Errorf("exit %d, output\n%q\nwant exit %d, output\n%q", exit, out.String(), tt.exit, want)
			}
		})
	}
}
