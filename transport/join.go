package transport

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ClientInfo describes the client software, never the person using it.
type ClientInfo struct {
	App     string `json:"app"`
	Version string `json:"version"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

// JoinRequest is the body of POST /api/v1/join.
type JoinRequest struct {
	Code   string     `json:"code"`
	Client ClientInfo `json:"client"`
}

// ExamInfo is what a client learns about the exam it joined.
type ExamInfo struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	OpensAt  time.Time `json:"opens_at,omitzero"`
	ClosesAt time.Time `json:"closes_at,omitzero"`
}

// Limits are the backend's protocol limits.
type Limits struct {
	MaxFrameBytes   int `json:"max_frame_bytes"`
	MaxControlBytes int `json:"max_control_bytes"`
	HeartbeatMS     int `json:"heartbeat_ms"`
}

// JoinResponse is the answer to a join or resume.
type JoinResponse struct {
	SessionID string          `json:"session_id"`
	Token     string          `json:"token"`
	Exam      ExamInfo        `json:"exam"`
	Policy    json.RawMessage `json:"policy"` // the signed policy envelope; transport does not interpret it
	ServerKey string          `json:"server_key"`
	WSURL     string          `json:"ws_url"`
	SpoolKey  []byte          `json:"spool_key"`
	Limits    Limits          `json:"limits"`
}

// Validate checks that a join response has everything a client needs.
func (r *JoinResponse) Validate() error {
	switch {
	case r.SessionID == "":
		return errors.New("join response without session_id")
	case r.Token == "":
		return errors.New("join response without token")
	case len(r.Policy) == 0:
		return errors.New("join response without policy")
	case r.WSURL == "":
		return errors.New("join response without ws_url")
	case len(r.SpoolKey) != 32:
		return fmt.Errorf("join response spool_key has %d bytes, want 32", len(r.SpoolKey))
	}
	return nil
}

// APIError is the body of every non-2xx answer of the HTTP API.
type APIError struct {
	Error struct {
		Code    string    `json:"code"`
		Message string    `json:"message"`
		OpensAt time.Time `json:"opens_at,omitzero"`
	} `json:"error"`
}

var codePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidJoinCode reports whether code has the shape of a join code.
func ValidJoinCode(code string) bool { return codePattern.MatchString(code) }

// NormalizeJoinCode upper-cases a join code; codes are case-insensitive.
func NormalizeJoinCode(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

// ErrUnreachable wraps every failure to reach the backend at all (DNS,
// refused connection, timeout, TLS), as opposed to an answer from it, as
// fmt.Errorf("%w: %w", ErrUnreachable, cause).
var ErrUnreachable = errors.New("backend unreachable")

// Join asks the backend at server (a base URL such as http://127.0.0.1:8080)
// to admit the client to the exam with code.
func Join(ctx context.Context, hc *http.Client, server string, req JoinRequest) (*JoinResponse, error) {
	if !ValidJoinCode(strings.TrimSpace(req.Code)) {
		return nil, &RemoteError{Code: CodeBadRequest, Message: fmt.Sprintf("%q is not a join code (1-64 letters, digits, - or _)", req.Code)}
	}
	req.Code = NormalizeJoinCode(req.Code)
	body, _ := json.Marshal(req)
	return postJoin(ctx, hc, server, "/api/v1/join", "", body)
}

// Resume asks the backend again for the session a token belongs to, after a
// client restart.
func Resume(ctx context.Context, hc *http.Client, server, token string) (*JoinResponse, error) {
	return postJoin(ctx, hc, server, "/api/v1/resume", token, nil)
}

// joinRetryBudget is how long Join and Resume keep retrying answers of 429
// rate_limited (a lab of students behind one address, all joining at the
// start of the exam) before they return the refusal.
var joinRetryBudget = 3 * time.Minute

func postJoin(ctx context.Context, hc *http.Client, server, path, token string, body []byte) (*JoinResponse, error) {
	deadline := time.Now().Add(joinRetryBudget)
	for {
		jr, wait, err := postJoinOnce(ctx, hc, server, path, token, body)
		if wait <= 0 || time.Now().Add(wait).After(deadline) {
			return jr, err
		}
		// Spread a crowd's retries: wait Retry-After plus up to half again.
		wait += time.Duration(mrand.Int64N(int64(wait/2) + 1))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// retryAfter is how long a 429 answer asks the client to wait: its
// Retry-After in seconds, within 1 s and 60 s (5 s when absent or a date).
func retryAfter(h http.Header) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	switch {
	case err != nil:
		return 5 * time.Second
	case s < 1:
		return time.Second
	case s > 60:
		return time.Minute
	}
	return time.Duration(s) * time.Second
}

// postJoinOnce makes one request; wait > 0 when the backend answered 429
// and the request may be retried after wait.
func postJoinOnce(ctx context.Context, hc *http.Client, server, path, token string, body []byte) (*JoinResponse, time.Duration, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	base, err := url.Parse(server)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, 0, fmt.Errorf("server %q is not an http(s) URL", server)
	}
	u := base.JoinPath(path)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if token != "" {
		hr.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is the caller's own; keep the cause
		}
		return nil, 0, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrUnreachable, fmt.Errorf("reading the answer: %w", err))
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return nil, retryAfter(resp.Header), decodeAPIError(resp.StatusCode, b)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, decodeAPIError(resp.StatusCode, b)
	}
	var jr JoinResponse
	if err := json.Unmarshal(b, &jr); err != nil {
		return nil, 0, fmt.Errorf("join answer is not valid JSON: %w", err)
	}
	if err := jr.Validate(); err != nil {
		return nil, 0, err
	}
	ws, err := ResolveWSURL(u, jr.WSURL)
	if err != nil {
		return nil, 0, err
	}
	jr.WSURL = ws.String()
	return &jr, 0, nil
}

// ErrForeignWSURL is returned when a join answer's ws_url points away from
// the server that was asked: the client would send the session token there.
var ErrForeignWSURL = errors.New("the join answer's ws_url is not on the join server's origin")

// ResolveWSURL resolves a join answer's ws_url against the URL of the join
// request (RFC 3986 section 5), maps http to ws and https to wss, and checks
// that the result has the join server's origin: the same scheme (ws for
// http, wss for https), host and port. The session token goes nowhere else.
func ResolveWSURL(join *url.URL, wsURL string) (*url.URL, error) {
	ws, err := join.Parse(wsURL)
	if err != nil {
		return nil, fmt.Errorf("join answer ws_url: %w", err)
	}
	switch ws.Scheme {
	case "http":
		ws.Scheme = "ws"
	case "https":
		ws.Scheme = "wss"
	}
	want := "ws"
	if join.Scheme == "https" {
		want = "wss"
	}
	if ws.Scheme != want || !strings.EqualFold(hostPort(ws), hostPort(join)) || ws.User != nil {
		return nil, fmt.Errorf("%w: %q is not %s://%s", ErrForeignWSURL, wsURL, want, join.Host)
	}
	ws.Fragment, ws.RawFragment = "", ""
	return ws, nil
}

// hostPort is u's host and port, with the scheme's default port made
// explicit.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http", "ws":
			port = "80"
		case "https", "wss":
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func decodeAPIError(status int, body []byte) error {
	var ae APIError
	if json.Unmarshal(body, &ae) == nil && ae.Error.Code != "" {
		return &RemoteError{Code: ae.Error.Code, Message: ae.Error.Message, OpensAt: ae.Error.OpensAt}
	}
	code := CodeInternal
	switch {
	case status == http.StatusServiceUnavailable || status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		code = CodeUnavailable
	case status == http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrUnreachable, fmt.Errorf("%w: is this an Invigil backend?", &HTTPStatusError{Status: status}))
	}
	return fmt.Errorf("%w: %w", &RemoteError{Code: code, Message: "backend answered"}, &HTTPStatusError{Status: status})
}

// HTTPStatusError is an HTTP answer that is not the API's JSON error (a
// proxy's 502, a web server's 404): the client tells the student the code.
type HTTPStatusError struct{ Status int }

func (e *HTTPStatusError) Error() string { return fmt.Sprintf("HTTP %d", e.Status) }

// NewToken returns a fresh random bearer token (256 bits, base64url).
func NewToken() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

// SpeedTestResult is the backend's answer to a network test.
type SpeedTestResult struct {
	Bytes        int64 `json:"bytes"`         // bytes the backend received
	ServerMillis int64 `json:"server_millis"` // how long it took to receive them
}

// SpeedTest uploads n bytes (at most 8 MiB) to the backend with the session
// token and returns the upload rate the client saw, in bytes per second.
func SpeedTest(ctx context.Context, hc *http.Client, server, token string, n int) (float64, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	if n <= 0 || n > 8<<20 {
		return 0, fmt.Errorf("speed test: %d bytes, want 1 to 8 MiB", n)
	}
	base, err := url.Parse(server)
	if err != nil || base.Host == "" {
		return 0, fmt.Errorf("server %q is not an http(s) URL", server)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath("/api/v1/speedtest").String(), bytes.NewReader(randomBytes(n)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/octet-stream")
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return 0, decodeAPIError(resp.StatusCode, b)
	}
	var res SpeedTestResult
	if err := json.Unmarshal(b, &res); err != nil || res.Bytes != int64(n) {
		return 0, fmt.Errorf("speed test: the backend answered %q", b)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
