package launch

import (
	"errors"
	"strings"
	"testing"

	"github.com/invigil/invigil/transport"
)

func TestParseJoinLink(t *testing.T) {
	long := "invigil://join?server=https%3A%2F%2Fexample.edu&code=" + strings.Repeat("A", MaxLinkLength)
	tests := []struct {
		in      string
		want    JoinLink
		wantErr string // substring of the error; "" means valid
	}{
		{in: "invigil://join?server=https%3A%2F%2Fproctor.example.edu&code=PHYS1",
			want: JoinLink{Server: "https://proctor.example.edu", Code: "PHYS1"}},
		{in: "invigil://join?code=demo&server=http://127.0.0.1:8080",
			want: JoinLink{Server: "http://127.0.0.1:8080", Code: "demo"}},
		{in: "INVIGIL://JOIN?server=https://Example.EDU/proctor/&code=a-b_c",
			want: JoinLink{Server: "https://example.edu/proctor", Code: "a-b_c"}},
		{in: "invigil://join/?server=https://[::1]:8443&code=X",
			want: JoinLink{Server: "https://[::1]:8443", Code: "X"}},
		{in: "  invigil://join?server=https://e.edu&code=X\n", wantErr: "control"},
		{in: "  invigil://join?server=https://e.edu&code=X  ", want: JoinLink{Server: "https://e.edu", Code: "X"}},
		{in: "", wantErr: "does not start with invigil://"},
		{in: "https://example.edu/join?code=X", wantErr: "does not start with invigil://"},
		{in: "invigil:join?server=https://e.edu&code=X", wantErr: "not of the form"},
		{in: "invigil://leave?server=https://e.edu&code=X", wantErr: "does not ask to join"},
		{in: "invigil://join/extra?server=https://e.edu&code=X", wantErr: "does not ask to join"},
		{in: "invigil://user:pw@join?server=https://e.edu&code=X", wantErr: "user name or password"},
		{in: "invigil://join?server=https://user:pw@e.edu&code=X", wantErr: "user name or password"},
		{in: "invigil://join?server=https://user@e.edu&code=X", wantErr: "user name or password"},
		{in: "invigil://join?server=https%3A%2F%2Fuser%40e.edu&code=X", wantErr: "user name or password"},
		{in: "invigil://join?server=ftp://e.edu&code=X", wantErr: "not an http:// or https://"},
		{in: "invigil://join?server=file:///etc/passwd&code=X", wantErr: "not an http:// or https://"},
		{in: "invigil://join?server=javascript:alert(1)&code=X", wantErr: "not an http:// or https://"},
		{in: "invigil://join?server=e.edu&code=X", wantErr: "not an http:// or https://"},
		{in: "invigil://join?server=https://&code=X", wantErr: "no host"},
		{in: "invigil://join?server=https://e.edu:99999&code=X", wantErr: "invalid port"},
		{in: "invigil://join?server=https://e.edu:&code=X", wantErr: "empty port"},
		{in: "invigil://join?server=http://0:/&code=0", wantErr: "empty port"}, // found by the fuzzer
		{in: "invigil://join?server=https%3A%2F%2Fe.edu%3Fa%3Db&code=X", wantErr: "query or a fragment"},
		{in: "invigil://join?server=https%3A%2F%2Fe.edu%23x&code=X", wantErr: "query or a fragment"},
		{in: "invigil://join?server=https://e.edu&code=X#frag", wantErr: "fragment"},
		{in: "invigil://join?server=https://e.edu", wantErr: "no join code"},
		{in: "invigil://join?code=X", wantErr: "names no exam server"},
		{in: "invigil://join?server=https://e.edu&code=", wantErr: "is not a join code"},
		{in: "invigil://join?server=https://e.edu&code=a%20b", wantErr: "is not a join code"},
		{in: "invigil://join?server=https://e.edu&code=" + strings.Repeat("A", 65), wantErr: "is not a join code"},
		{in: "invigil://join?server=https://e.edu&code=X&code=Y", wantErr: "more than once"},
		{in: "invigil://join?server=https://e.edu&code=X&token=secret", wantErr: "unknown parameter"},
		{in: "invigil://join?server=https://e.edu&code=X;evil", wantErr: "cannot be read"},
		{in: "invigil://join?server=https://e.edu&code=X%00", wantErr: "is not a join code"},
		{in: "invigil://join?server=https://e%0a.edu&code=X", wantErr: "control"},
		{in: "invigil://join?server=https://e.edu\x00&code=X", wantErr: "control"},
		{in: "invigil://join?server=https://e.edu/a%20b&code=X", wantErr: "spaces"},
		{in: long, wantErr: "characters long"},
		{in: "invigil://join?server=https://e.edu&code=X\xff", wantErr: "control"},
	}
	for _, tt := range tests {
		got, err := ParseJoinLink(tt.in)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("ParseJoinLink(%q): %v", tt.in, err)
			} else if got != tt.want {
				t.Errorf("ParseJoinLink(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseJoinLink(%q) = %+v, want an error with %q", tt.in, got, tt.wantErr)
			continue
		}
		if !errors.Is(err, ErrBadLink) {
			t.Errorf("ParseJoinLink(%q) error %v does not wrap ErrBadLink", tt.in, err)
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseJoinLink(%q) error %q, want it to say %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestJoinLinkRoundTrip(t *testing.T) {
	l := JoinLink{Server: "https://example.edu/proctor", Code: "PHYS-1"}
	got, err := ParseJoinLink(l.String())
	if err != nil || got != l {
		t.Fatalf("ParseJoinLink(%q) = %+v, %v; want %+v", l.String(), got, err, l)
	}
}

func TestParseServerURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://proctor.example.edu", "https://proctor.example.edu"},
		{"https://proctor.example.edu/", "https://proctor.example.edu"},
		{"HTTP://LOCALHOST:8080/", "http://localhost:8080"},
		{"https://example.edu/a/b/", "https://example.edu/a/b"},
		{"proctor.example.edu", ""},
		{"https://example.edu?x", ""},
		{"https://example.edu/ x", ""},
		{"https://a@example.edu", ""},
		{"https://0/@", ""},
		{"https://evil.example/@proctor.example.edu", ""},
		{"https://evil.example/%40proctor", ""},
		{"https://example.edu:0", ""},
		{"wss://example.edu", ""},
		{"https://[::1]:08443/p/", "https://[::1]:8443/p"},
		{"https://[FE80::1]", "https://[fe80::1]"},
		{"https://[fe80::1%25eth0]", ""},
		{"https://[1.2.3.4]", ""},
		{"https://[::1", ""},
		{"https://[::1]x", ""},
		{"https://a:b:80", ""},
		{"https://10.0.0.7:8443", "https://10.0.0.7:8443"},
		{"https://Proctor_1.example.edu/a-b/c.d/~e", "https://proctor_1.example.edu/a-b/c.d/~e"},
		{"https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
		{"https://bücher.example", ""},
		{"https://a..b", ""},
		{"https://a.b.", ""},
		{"https://" + strings.Repeat("a", 64) + ".edu", ""},
		{"https://e.edu/a/../b", ""},
		{"https://e.edu/a//b", ""},
		{"https://e.edu/./b", ""},
		{"https://e.edu/a;b", ""},
		{"https://e.edu/a%2Fb", ""},
		{"https://e.edu:", ""},
		{"https://e.edu:/p", ""},
		{"https://e.edu:65536", ""},
		{"https://e.edu:+80", ""},
		{"https:e.edu", ""},
		{"https:///e.edu", ""},
		{"https://e.edu/" + strings.Repeat("a", MaxServerLength), ""},
	}
	for _, tt := range tests {
		got, err := ParseServerURL(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseServerURL(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseServerURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseJoinLink checks that whatever a launcher hands the client, the
// parser never panics, and that what it accepts is safe to use: an http(s)
// server without credentials, a valid join code, and a canonical form that
// parses back to the same link.
func FuzzParseJoinLink(f *testing.F) {
	for _, s := range []string{
		"invigil://join?server=https%3A%2F%2Fproctor.example.edu&code=PHYS1",
		"invigil://join?code=demo&server=http://127.0.0.1:8080",
		"invigil://join?server=https://user:pw@e.edu&code=X",
		"invigil://join?server=https://[::1]:8443/p/&code=X",
		"invigil://join?server=https://e.edu&code=X#f",
		"invigil:join",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseJoinLink(s)
		if err != nil {
			if !errors.Is(err, ErrBadLink) {
				t.Fatalf("error %v does not wrap ErrBadLink", err)
			}
			return
		}
		if !strings.HasPrefix(l.Server, "http://") && !strings.HasPrefix(l.Server, "https://") {
			t.Fatalf("accepted server %q", l.Server)
		}
		if strings.Contains(l.Server, "@") || strings.ContainsAny(l.Server, "?#") {
			t.Fatalf("accepted server %q with credentials, query or fragment", l.Server)
		}
		if again, err := ParseServerURL(l.Server); err != nil || again != l.Server {
			t.Fatalf("server %q is not in its normal form: %q, %v", l.Server, again, err)
		}
		if !transport.ValidJoinCode(l.Code) {
			t.Fatalf("accepted code %q", l.Code)
		}
		again, err := ParseJoinLink(l.String())
		if err != nil || again != l {
			t.Fatalf("canonical form %q of %q parses to %+v, %v", l.String(), s, again, err)
		}
	})
}

// ParseServerURL's error is typed: the join screen shows its Problem
// after "The server address is not valid:" without cutting text.
func TestServerAddressError(t *testing.T) {
	_, err := ParseServerURL("https://")
	ae, ok := errors.AsType[*ServerAddressError](err)
	if !ok || !errors.Is(err, ErrBadLink) || ae.Problem == "" || strings.HasPrefix(ae.Problem, "the server address") {
		t.Fatalf("error %v (%T)", err, err)
	}
	if err.Error() != ErrBadLink.Error()+": the server address "+ae.Problem {
		t.Errorf("message %q", err)
	}
}
