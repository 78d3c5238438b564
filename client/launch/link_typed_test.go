package launch

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTypedServer(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"exam.example.org", "https://exam.example.org"},
		{"  Exam.Example.org/proctor/ ", "https://exam.example.org/proctor"},
		{"exam.example.org:8443", "https://exam.example.org:8443"},
		{"exam.example.org:8080", "https://exam.example.org:8080"}, // never guessed down to http
		{"192.168.1.20:8080", "https://192.168.1.20:8080"},
		{"localhost:8080", "http://localhost:8080"},
		{"LOCALHOST", "http://localhost"},
		{"127.0.0.1:39211", "http://127.0.0.1:39211"},
		{"127.1.2.3", "http://127.1.2.3"},
		{"[::1]:8080", "http://[::1]:8080"},
		{"https://localhost:8080", "https://localhost:8080"}, // typed https stays https
		{"http://exam.example.org", "http://exam.example.org"},
		{"localhost.evil.example", "https://localhost.evil.example"},
	} {
		got, err := ParseTypedServer(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseTypedServer(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "exam example.org", "user@exam.example.org", "ftp://exam.example.org", "exam.example.org:0"} {
		if got, err := ParseTypedServer(in); !errors.Is(err, ErrBadLink) {
			t.Errorf("ParseTypedServer(%q) = %q, %v; want ErrBadLink", in, got, err)
		}
	}
}

// FuzzParseTypedServer: whatever is typed, an accepted address is one
// ParseServerURL accepts unchanged, and a host elsewhere typed without a
// scheme is never given http://.
func FuzzParseTypedServer(f *testing.F) {
	for _, s := range []string{"exam.example.org", "localhost:8080", "[::1]:80", "http://x.example", "127.0.0.1", "a/b/c", "x:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTypedServer(s)
		if err != nil {
			if !errors.Is(err, ErrBadLink) {
				t.Fatalf("ParseTypedServer(%q) error %v does not wrap ErrBadLink", s, err)
			}
			return
		}
		if again, err := ParseServerURL(got); err != nil || again != got {
			t.Fatalf("ParseTypedServer(%q) = %q, which ParseServerURL reads as %q, %v", s, got, again, err)
		}
		if !strings.Contains(s, "://") && strings.HasPrefix(got, "http://") {
			hostport, _, _ := strings.Cut(strings.TrimPrefix(got, "http://"), "/")
			if !isLoopbackHost(hostport) {
				t.Fatalf("ParseTypedServer(%q) = %q: plain http for a host elsewhere", s, got)
			}
		}
	})
}
