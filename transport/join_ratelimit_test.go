package transport

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// A lab of students behind one address meets the backend's join rate limit
// at the start of an exam: Join waits for Retry-After and tries again
// instead of telling the student the join was refused.
func TestJoinRetriesRateLimited(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.Header().Set("Retry-After", "1")
			WriteAPIError(w, http.StatusTooManyRequests, CodeRateLimited, "too many joins from this address")
			return
		}
		WriteAPIError(w, http.StatusForbidden, CodeExamClosed, "closed")
	}))
	defer srv.Close()
	start := time.Now()
	_, err := Join(context.Background(), srv.Client(), srv.URL, JoinRequest{Code: "DEMO"})
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeExamClosed {
		t.Fatalf("Join: %v, want the answer after the retries (exam_closed)", err)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("%d requests, want 3 (two 429s, then the answer)", got)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("retried after %v, want Retry-After (1 s) honoured twice", d)
	}
}

// Past the retry budget the refusal is returned, and a cancelled context
// stops the wait at once.
func TestJoinRateLimitedGivesUp(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		WriteAPIError(w, http.StatusTooManyRequests, CodeRateLimited, "slow down")
	}))
	defer srv.Close()
	old := joinRetryBudget
	joinRetryBudget = 30 * time.Second
	defer func() { joinRetryBudget = old }()
	_, err := Join(context.Background(), srv.Client(), srv.URL, JoinRequest{Code: "DEMO"})
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeRateLimited {
		t.Fatalf("Join: %v, want rate_limited once the wait exceeds the budget", err)
	}
	joinRetryBudget = old
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Join(ctx, srv.Client(), srv.URL, JoinRequest{Code: "DEMO"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join with a cancelled context: %v, want context.DeadlineExceeded", err)
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{{"", 5 * time.Second}, {"0", time.Second}, {"10", 10 * time.Second}, {"3600", time.Minute}, {"Wed, 21 Oct 2015 07:28:00 GMT", 5 * time.Second}} {
		h := http.Header{}
		if tc.in != "" {
			h.Set("Retry-After", tc.in)
		}
		if got := retryAfter(h); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
