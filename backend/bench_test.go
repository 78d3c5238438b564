package backend

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkJoin measures joins over loopback HTTP from one source address,
// with the rate limits off and at their defaults, for the demo code and a
// wrong one: req/s is every answer, joins/s the sessions created.
func BenchmarkJoin(b *testing.B) {
	for _, lim := range []struct {
		name string
		l    RateLimits
	}{{"limits=off", RateLimits{Off: true}}, {"limits=default", RateLimits{}}} {
		bk, err := Open(Config{DataDir: b.TempDir(), Limits: lim.l})
		if err != nil {
			b.Fatal(err)
		}
		bk.EnsureDemoExam(context.Background())
		srv := httptest.NewServer(bk.Handler())
		for _, code := range []string{"DEMO", "WRONG123"} {
			b.Run(lim.name+"/"+code, func(b *testing.B) {
				status := map[int]int{}
				start := time.Now()
				for b.Loop() {
					resp, err := http.Post(srv.URL+"/api/v1/join", "application/json", strings.NewReader(`{"code":"`+code+`","client":{"app":"bench"}}`))
					if err != nil {
						b.Fatal(err)
					}
					resp.Body.Close()
					status[resp.StatusCode]++
				}
				secs := time.Since(start).Seconds()
				b.ReportMetric(float64(b.N)/secs, "req/s")
				b.ReportMetric(float64(status[200])/secs, "joins/s")
				b.Logf("statuses %v", status)
			})
		}
		srv.Close()
		bk.Close()
	}
}
