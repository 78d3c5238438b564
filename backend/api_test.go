package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invigil/invigil/assets"
	"github.com/invigil/invigil/transport"
)

// do sends a request to the test server and returns the status, headers
// and body.
func (e *env) do(t *testing.T, method, path, contentType, auth, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func errorCode(t *testing.T, body string) string {
	t.Helper()
	var ae transport.APIError
	if err := json.Unmarshal([]byte(body), &ae); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return ae.Error.Code
}

// A capture time in year 10000 used to make the sessions listing answer
// 200 with an empty body (and `invigild sessions --json` fail) for every
// session.
func TestListingSurvivesBadCaptureTime(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.b.EnsureDemoExam(ctx)
	r, err := e.join(t, "demo")
	if err != nil {
		t.Fatal(err)
	}
	c, sp := newSessionClient(t, r, configKey(t, r), nil)
	c.Spool().Append(event("session.started"))
	c.Spool().Append(transport.Message{Kind: transport.KindData, Track: transport.TrackHeartbeat, Time: time.Now(), Payload: []byte("hb")})
	waitUntil(t, func() bool { return sp.Status().Unacked == 0 })
	y10k := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	if _, err := e.b.db.Exec(`UPDATE tracks SET first_time = ?, last_time = ?`, y10k, y10k); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.db.Exec(`UPDATE events SET time = ?`, y10k); err != nil {
		t.Fatal(err)
	}
	status, hdr, body := e.do(t, "GET", "/api/v1/admin/sessions", "", e.b.AdminToken(), "")
	if status != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("sessions: %d %s %q", status, hdr.Get("Content-Type"), body)
	}
	var ss []SessionInfo
	if err := json.Unmarshal([]byte(body), &ss); err != nil || len(ss) != 1 {
		t.Fatalf("sessions body %q: %v", body, err)
	}
	if len(ss[0].Warnings) == 0 || !strings.Contains(ss[0].Warnings[0], "out of range") {
		t.Errorf("warnings %q, want the bad capture time named", ss[0].Warnings)
	}
	status, _, body = e.do(t, "GET", "/api/v1/admin/sessions/"+r.SessionID+"/events", "", e.b.AdminToken(), "")
	var evs []Event
	if status != 200 || json.Unmarshal([]byte(body), &evs) != nil || len(evs) != 1 || evs[0].Warning == "" || !evs[0].Time.IsZero() {
		t.Fatalf("events: %d %q", status, body)
	}
}

// An answer that cannot be encoded is a 500 with an error body.
func TestWriteJSONEncodeError(t *testing.T) {
	e := newEnv(t)
	rec := httptest.NewRecorder()
	e.b.writeJSON(rec, http.StatusOK, map[string]any{"t": time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	if rec.Code != http.StatusInternalServerError || errorCode(t, rec.Body.String()) != transport.CodeInternal {
		t.Errorf("got %d %q, want 500 with an internal error body", rec.Code, rec.Body.String())
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
		"Cache-Control":           "no-store",
	}
	for _, c := range []struct{ method, path, ct, auth, body string }{
		{"GET", "/healthz", "", "", ""},
		{"POST", "/api/v1/join", "application/json", "", `{"code":"nope"}`},
		{"GET", "/api/v1/admin/sessions", "", e.b.AdminToken(), ""},
		{"GET", "/api/v1/admin/sessions", "", "", ""},
		{"GET", "/nothing/here", "", "", ""},
	} {
		_, hdr, _ := e.do(t, c.method, c.path, c.ct, c.auth, c.body)
		for k, v := range want {
			if got := hdr.Get(k); got != v {
				t.Errorf("%s %s: %s = %q, want %q", c.method, c.path, k, got, v)
			}
		}
		if hdr.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s %s: HSTS over plain HTTP", c.method, c.path)
		}
	}
	// Over TLS, HSTS too.
	ts := httptest.NewTLSServer(e.b.Handler())
	defer ts.Close()
	resp, err := ts.Client().Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("HSTS over TLS: %q", resp.Header.Get("Strict-Transport-Security"))
	}
	ts.Client().CloseIdleConnections()
}

// A web page can post text/plain and forms anywhere; join must not accept
// them.
func TestJSONPostsNeedJSONContentType(t *testing.T) {
	e := newEnv(t)
	e.b.EnsureDemoExam(context.Background())
	body := `{"code":"DEMO","client":{"app":"x"}}`
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		status, _, resp := e.do(t, "POST", "/api/v1/join", ct, "", body)
		if status != http.StatusUnsupportedMediaType || errorCode(t, resp) != CodeUnsupportedMediaType {
			t.Errorf("join as %q: %d %s", ct, status, resp)
		}
		status, _, resp = e.do(t, "POST", "/api/v1/admin/exams", ct, e.b.AdminToken(), `{"name":"x"}`)
		if status != http.StatusUnsupportedMediaType {
			t.Errorf("create exam as %q: %d %s", ct, status, resp)
		}
	}
	var n int
	e.b.db.QueryRow(`SELECT COUNT(*) FROM sessions`).Scan(&n)
	if n != 0 {
		t.Errorf("%d sessions created by non-JSON posts", n)
	}
	if status, _, resp := e.do(t, "POST", "/api/v1/join", "application/json; charset=utf-8", "", body); status != 200 {
		t.Errorf("join as JSON: %d %s", status, resp)
	}
}

func TestAdminTokenOnlyInHeader(t *testing.T) {
	e := newEnv(t)
	status, _, _ := e.do(t, "GET", "/api/v1/admin/sessions?token="+e.b.AdminToken(), "", "", "")
	if status != http.StatusUnauthorized {
		t.Errorf("admin token in the query: %d, want 401", status)
	}
}

// Unknown codes and codes of exams not open or closed tell a guesser
// nothing about the exam.
func TestRefusalsNameNoExam(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.b.CreateExam(ctx, ExamSpec{Name: "Secret Physics Final", Code: "later", OpensAt: e.now.Add(time.Hour)})
	e.b.CreateExam(ctx, ExamSpec{Name: "Secret Chemistry Final", Code: "over", ClosesAt: e.now.Add(-time.Minute)})
	for _, code := range []string{"later", "over", "nope"} {
		status, _, body := e.do(t, "POST", "/api/v1/join", "application/json", "", `{"code":"`+code+`"}`)
		// The code itself is the student's own input: only the unknown
		// one is repeated to them ("no exam has the join code NOPE").
		if strings.Contains(body, "Secret") || strings.Contains(body, "e_") {
			t.Errorf("join %s: %d %s names the exam", code, status, body)
		}
	}
}

func TestJoinRateLimits(t *testing.T) {
	e := newEnvWith(t, func(c *Config) {
		c.Limits = RateLimits{JoinPerSource: RateLimit{Rate: 1, Burst: 3}, FailPerSource: RateLimit{Rate: 0.1, Burst: 2}, JoinPerCode: RateLimit{Rate: 1, Burst: 100}}
	})
	e.b.EnsureDemoExam(context.Background())
	join := func(code string) (int, http.Header, string) {
		return e.do(t, "POST", "/api/v1/join", "application/json", "", `{"code":"`+code+`"}`)
	}
	// Wrong codes: two refusals, then 429 for everything from this source.
	for i, want := range []int{404, 404, 429} {
		if status, _, body := join(fmt.Sprintf("GUESS%d", i)); status != want {
			t.Fatalf("guess %d: %d %s, want %d", i, status, body, want)
		}
	}
	status, hdr, body := join("DEMO")
	if status != http.StatusTooManyRequests || errorCode(t, body) != CodeRateLimited || hdr.Get("Retry-After") != "10" {
		t.Fatalf("after two wrong codes: %d Retry-After %q %s", status, hdr.Get("Retry-After"), body)
	}
	e.advance(10 * time.Second) // one refusal refilled
	if status, _, body := join("DEMO"); status != 200 {
		t.Fatalf("after the wait: %d %s", status, body)
	}
	// Per source: burst 3 (one used above), then 1/s.
	join("DEMO")
	join("DEMO")
	if status, hdr, _ := join("DEMO"); status != 429 || hdr.Get("Retry-After") != "1" {
		t.Fatalf("fourth join: %d Retry-After %q", status, hdr.Get("Retry-After"))
	}

	// Per code, from all sources.
	e2 := newEnvWith(t, func(c *Config) {
		c.Limits = RateLimits{JoinPerCode: RateLimit{Rate: 1, Burst: 2}}
	})
	e2.b.EnsureDemoExam(context.Background())
	for i, want := range []int{200, 200, 429} {
		if status, _, body := e2.do(t, "POST", "/api/v1/join", "application/json", "", `{"code":"demo"}`); status != want {
			t.Fatalf("join %d of one code: %d %s, want %d", i, status, body, want)
		}
	}
}

func TestResumeRateLimits(t *testing.T) {
	e := newEnvWith(t, func(c *Config) {
		c.Limits = RateLimits{ResumePerSession: RateLimit{Rate: 1, Burst: 2}, FailPerSource: RateLimit{Rate: 1, Burst: 3}}
	})
	e.b.EnsureDemoExam(context.Background())
	r, err := e.join(t, "demo")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{200, 200, 429} {
		if status, _, body := e.do(t, "POST", "/api/v1/resume", "", r.Token, ""); status != want {
			t.Fatalf("resume %d: %d %s, want %d", i, status, body, want)
		}
	}
	for i, want := range []int{401, 401, 401, 429} {
		if status, _, body := e.do(t, "POST", "/api/v1/resume", "", fmt.Sprint("guess", i), ""); status != want {
			t.Fatalf("guessed token %d: %d %s, want %d", i, status, body, want)
		}
	}
}

func TestLimiterBoundedAndRefills(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter(RateLimit{Rate: 2, Burst: 2}, 100, func() time.Time { return now })
	for i := range 1000 {
		l.allow(fmt.Sprint("k", i))
	}
	if n := l.size(); n != 100 {
		t.Errorf("limiter holds %d keys, want at most 100", n)
	}
	l.allow("a")
	l.allow("a")
	if ok, wait := l.allow("a"); ok || wait != 500*time.Millisecond {
		t.Errorf("third: %v %v, want refused for 500ms", ok, wait)
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.allow("a"); !ok {
		t.Error("not refilled")
	}
}

func TestSourceKey(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		remote, xff, want string
	}{
		{"192.0.2.1:1234", "", "192.0.2.1"},
		{"192.0.2.1:1234", "198.51.100.7", "192.0.2.1"}, // not a trusted proxy: XFF ignored
		{"10.0.0.5:1", "198.51.100.7", "198.51.100.7"},
		{"10.0.0.5:1", "203.0.113.9, 198.51.100.7, 10.0.0.9", "198.51.100.7"},
		{"10.0.0.5:1", "garbage", "10.0.0.5"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.1]:1", "", "192.0.2.1"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := sourceKey(r, trusted); got != tt.want {
			t.Errorf("sourceKey(%s, %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}

// A client that sends its body one byte at a time is cut off after
// BodyTimeout; a websocket on the same server lives on.
func TestSlowBodyClosed(t *testing.T) {
	const timeout = time.Second
	e := newEnvWith(t, func(c *Config) { c.BodyTimeout = timeout })
	srv := HTTPServer(e.b.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /api/v1/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
	closed := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(conn) // until the server closes
		closed <- string(b)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case resp := <-closed:
			took := time.Since(start)
			t.Logf("slow body closed after %v: %.60q", took, resp)
			if took > timeout+time.Second {
				t.Errorf("closed after %v, want about %v", took, timeout)
			}
			if !strings.HasPrefix(resp, "HTTP/1.1 408") {
				t.Errorf("answer %.80q, want 408", resp)
			}
			return
		case <-tick.C:
			if time.Since(start) > 10*time.Second {
				t.Fatal("a body sent at 10 bytes/s still open after 10 s")
			}
			conn.Write([]byte(" "))
		}
	}
}

// Websocket connections and downloads are not cut by the body timeout.
func TestBodyTimeoutSparesWebsocket(t *testing.T) {
	e := newEnvWith(t, func(c *Config) { c.BodyTimeout = 300 * time.Millisecond })
	e.b.EnsureDemoExam(context.Background())
	r, err := e.join(t, "demo")
	if err != nil {
		t.Fatal(err)
	}
	c, sp := newSessionClient(t, r, configKey(t, r), nil)
	for i := range 5 {
		c.Spool().Append(event(fmt.Sprint("e", i)))
		time.Sleep(200 * time.Millisecond)
	}
	waitUntil(t, func() bool { return sp.Status().Unacked == 0 })
	if n := c.Status().Reconnects; n != 0 {
		t.Errorf("%d reconnects, want the first connection to last", n)
	}
}

// Tokens expire: after the exam closes (plus the upload grace), after a
// proctor's end (plus the grace), and a day after joining an exam that
// never closes.
func TestSessionTokenLifetime(t *testing.T) {
	e := newEnvWith(t, func(c *Config) {
		c.UploadGrace = 10 * time.Minute
		c.TokenLifetime = time.Hour
	})
	ctx := context.Background()
	e.b.EnsureDemoExam(ctx)
	e.b.CreateExam(ctx, ExamSpec{Name: "Timed", Code: "timed", ClosesAt: e.now.Add(time.Hour)})
	timed, err := e.join(t, "timed")
	if err != nil {
		t.Fatal(err)
	}
	open, _ := e.join(t, "demo")
	ended, _ := e.join(t, "demo")
	if _, err := e.b.SendCommand(ctx, ended.SessionID, transport.CommandEnd, ""); err != nil {
		t.Fatal(err)
	}
	resume := func(tok string) error {
		_, err := transport.Resume(ctx, nil, e.srv.URL, tok)
		return err
	}
	for _, tok := range []string{timed.Token, open.Token, ended.Token} {
		if err := resume(tok); err != nil {
			t.Fatalf("resume at join: %v", err)
		}
	}
	e.advance(10 * time.Minute)
	if err := resume(ended.Token); !errors.Is(err, transport.ErrSessionFinished) {
		t.Errorf("resume 10 min after an end: %v, want session_finished", err)
	}
	if err := resume(timed.Token); err != nil {
		t.Errorf("resume before the exam closes: %v", err)
	}
	e.advance(55 * time.Minute) // 5 min after closes_at: in the grace
	if err := resume(timed.Token); err != nil {
		t.Errorf("resume in the upload grace: %v", err)
	}
	if err := resume(open.Token); !errors.Is(err, transport.ErrUnauthorized) {
		t.Errorf("resume after the token lifetime: %v, want unauthorized", err)
	}
	e.advance(5 * time.Minute)
	if err := resume(timed.Token); !errors.Is(err, transport.ErrExamClosed) {
		t.Errorf("resume after the grace: %v, want exam_closed", err)
	}
	if _, err := transport.SpeedTest(ctx, nil, e.srv.URL, timed.Token, 100); !errors.Is(err, transport.ErrExamClosed) {
		t.Errorf("speed test after the grace: %v", err)
	}
	// The websocket refuses the session too: nothing more is stored.
	sp, err := transport.OpenSpool(t.TempDir(), timed.SpoolKey, transport.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	c, err := transport.NewClient(transport.ClientConfig{URL: timed.WSURL, Token: timed.Token, SessionID: timed.SessionID, ConfigKey: configKey(t, timed), Spool: sp})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Close()
	c.Spool().Append(event("late"))
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("client not stopped")
	}
	if !errors.Is(c.Err(), transport.ErrExamClosed) {
		t.Errorf("websocket after the grace: %v, want exam_closed", c.Err())
	}
}

// A live connection stops storing once its session's time is up, even if
// the client ignores the proctor's end.
func TestLiveConnectionStopsAfterEnd(t *testing.T) {
	e := newEnvWith(t, func(c *Config) { c.UploadGrace = time.Minute })
	ctx := context.Background()
	e.b.EnsureDemoExam(ctx)
	r, _ := e.join(t, "demo")
	c, sp := newSessionClient(t, r, configKey(t, r), nil)
	c.Spool().Append(event("one"))
	waitUntil(t, func() bool { return sp.Status().Unacked == 0 })
	if _, err := e.b.SendCommand(ctx, r.SessionID, transport.CommandEnd, ""); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Minute + 2*accessRecheck)
	c.Spool().Append(event("ignored the end"))
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("client not stopped")
	}
	if !errors.Is(c.Err(), transport.ErrSessionFinished) {
		t.Errorf("after the end's grace: %v, want session_finished", c.Err())
	}
	evs, _ := e.b.ListEvents(ctx, r.SessionID)
	if len(evs) != 1 {
		t.Errorf("%d events stored, want only the one before the end", len(evs))
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// No token reaches the log, at any level, whatever the client does.
func TestTokensStayOutOfLogs(t *testing.T) {
	var logs syncBuffer
	e := newEnvWith(t, func(c *Config) {
		c.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := context.Background()
	e.b.EnsureDemoExam(ctx)
	r, err := e.join(t, "demo")
	if err != nil {
		t.Fatal(err)
	}
	transport.Resume(ctx, nil, e.srv.URL, r.Token)
	c, sp := newSessionClient(t, r, strings.Repeat("0", 64), nil) // refused: logged
	c.Spool().Append(event("x"))
	<-c.Done()
	sp.Close()
	e.do(t, "GET", "/api/v1/admin/sessions?token="+e.b.AdminToken(), "", "", "")
	e.do(t, "GET", "/api/v1/admin/sessions", "", e.b.AdminToken()+"x", "")
	e.do(t, "POST", "/api/v1/resume", "", r.Token+"x", "")
	out := logs.String()
	if out == "" {
		t.Fatal("nothing logged: the test would prove nothing")
	}
	for _, secret := range []string{r.Token, e.b.AdminToken()} {
		if strings.Contains(out, secret) || strings.Contains(out, secret[:16]) {
			t.Errorf("a token is in the log:\n%s", out)
		}
	}
}

// FuzzSourceKey: X-Forwarded-For comes from the network.
func FuzzSourceKey(f *testing.F) {
	f.Add("10.0.0.5:1", "203.0.113.9, 198.51.100.7, 10.0.0.9")
	f.Add("[2001:db8::1]:443", "")
	f.Add("garbage", ",,,")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::/0")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		if sourceKey(r, trusted) == "" && remote != "" {
			t.Errorf("empty key for %q %q", remote, xff)
		}
	})
}

// A refused request's connection is closed at once, not held open while
// the server reads the body it will not use.
func TestRateLimitedClosesAtOnce(t *testing.T) {
	e := newEnvWith(t, func(c *Config) { c.Limits = RateLimits{JoinPerSource: RateLimit{Rate: 0.001, Burst: 1}} })
	srv := HTTPServer(e.b.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	for i, want := range []string{"HTTP/1.1 404", "HTTP/1.1 429"} {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		body := `{"code":"nope"}`
		if i == 1 {
			body = ""
		}
		fmt.Fprintf(conn, "POST /api/v1/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(`{"code":"nope"}`)+1000*i, body)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		b := make([]byte, 12)
		io.ReadFull(conn, b)
		if string(b) != want {
			t.Fatalf("answer %d: %q, want %s", i, b, want)
		}
		if i == 1 {
			if _, err := io.Copy(io.Discard, conn); err != nil {
				t.Errorf("429 connection not closed: %v", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("429 connection closed after %v", took)
			}
		}
		conn.Close()
	}
}

// A join creates the session's folder and the empty files of the tracks
// its policy records, so an exam's start does not create thousands of
// files in the seconds of the first uploads; the ingest then writes them.
func TestJoinPreparesSessionFiles(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var doc map[string]any
	if err := json.Unmarshal(assets.DefaultPolicy, &doc); err != nil {
		t.Fatal(err)
	}
	doc["capture"].(map[string]any)["screen"].(map[string]any)["enabled"] = false
	pol, _ := json.Marshal(doc)
	if _, err := e.b.CreateExam(ctx, ExamSpec{Name: "Camera only", Code: "CAMONLY", Policy: pol}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.EnsureDemoExam(ctx); err != nil {
		t.Fatal(err)
	}
	files := func(code string) string {
		r, err := e.join(t, code)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(e.b.cfg.DataDir, "sessions", r.SessionID)
		if fi, err := os.Stat(dir); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700) {
			t.Fatalf("session folder: %v, %v", fi, err)
		}
		des, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, de := range des {
			fi, err := de.Info()
			if err != nil || fi.Size() != 0 || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
				t.Errorf("%s: %v, %v", de.Name(), fi, err)
			}
			names = append(names, de.Name())
		}
		return strings.Join(names, " ")
	}
	if got, want := files("DEMO"), "camera.mp4 heartbeat.ivr screen.mp4 stills.ivr"; got != want {
		t.Errorf("demo exam: files %q, want %q", got, want)
	}
	if got, want := files("CAMONLY"), "camera.mp4 heartbeat.ivr stills.ivr"; got != want {
		t.Errorf("camera-only exam: files %q, want %q", got, want)
	}
}
