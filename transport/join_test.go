package transport

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzResolveWSURL: whatever a join answer says, an accepted ws_url has the
// join server's origin.
func FuzzResolveWSURL(f *testing.F) {
	for _, s := range []string{"/api/v1/ws", "ws://127.0.0.1:8080/ws", "//evil/ws", "wss://127.0.0.1:8080/ws", "http://127.0.0.1:8080/x", "ws://u@127.0.0.1:8080/", "%zz", "ws://127.0.0.1:8080@evil/"} {
		f.Add("http://127.0.0.1:8080/api/v1/join", s)
		f.Add("https://exam.example/api/v1/join", s)
	}
	f.Fuzz(func(t *testing.T, join, ws string) {
		j, err := url.Parse(join)
		if err != nil || (j.Scheme != "http" && j.Scheme != "https") || j.Host == "" {
			return
		}
		u, err := ResolveWSURL(j, ws)
		if err != nil {
			return
		}
		want := map[string]string{"http": "ws", "https": "wss"}[j.Scheme]
		if u.Scheme != want || !strings.EqualFold(hostPort(u), hostPort(j)) || u.User != nil {
			t.Fatalf("ResolveWSURL(%s, %q) = %s: not the join server's origin", join, ws, u)
		}
		if back, err := url.Parse(u.String()); err != nil || !strings.EqualFold(hostPort(back), hostPort(j)) {
			t.Fatalf("ResolveWSURL(%s, %q) = %s, which reads back as %v (%v)", join, ws, u, back, err)
		}
	})
}
