package client

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/invigil/invigil/transport"
)

// LinkScheme is the URL scheme the packaging registers for the client
// (x-scheme-handler/invigil on Linux): an LMS launches the client with
// invigil://join?server=https%3A%2F%2Fproctor.example.edu&code=PHYS1.
const LinkScheme = "invigil"

// MaxLinkLength bounds a join link. Real links are under 300 bytes; the
// bound keeps a hostile launcher from handing the client megabytes.
const MaxLinkLength = 2048

// ErrBadLink is wrapped by every error of ParseJoinLink and ParseServerURL.
var ErrBadLink = errors.New("not a valid exam link")

// JoinLink is a parsed, validated invigil://join link.
type JoinLink struct {
	Server string // normalised backend base URL (ParseServerURL)
	Code   string // join code, as given (codes are case-insensitive)
}

// String is the link in its canonical form.
func (l JoinLink) String() string {
	q := url.Values{"server": {l.Server}, "code": {l.Code}}
	return LinkScheme + "://join?" + q.Encode()
}

// ParseJoinLink parses and validates an invigil://join link strictly: the
// scheme and the "join" action, exactly one server and one code parameter
// and nothing else, a server per ParseServerURL, a code per
// transport.ValidJoinCode, no credentials, fragments or control characters,
// at most MaxLinkLength bytes. Errors wrap ErrBadLink and say in plain words
// what is wrong.
func ParseJoinLink(s string) (JoinLink, error) {
	bad := func(format string, a ...any) (JoinLink, error) {
		return JoinLink{}, fmt.Errorf("%w: "+format, append([]any{ErrBadLink}, a...)...)
	}
	if len(s) > MaxLinkLength {
		return bad("it is %d characters long (at most %d)", len(s), MaxLinkLength)
	}
	if !utf8.ValidString(s) || hasControl(s) {
		return bad("it contains control characters")
	}
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil {
		return bad("it cannot be read as a URL")
	}
	switch {
	case !strings.EqualFold(u.Scheme, LinkScheme):
		return bad("it does not start with %s://", LinkScheme)
	case u.User != nil:
		return bad("it carries a user name or password")
	case u.Opaque != "":
		return bad("it is not of the form %s://join?server=...&code=...", LinkScheme)
	case !strings.EqualFold(u.Host, "join") || (u.Path != "" && u.Path != "/"):
		return bad("it does not ask to join an exam (want %s://join?...)", LinkScheme)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return bad("it has a #fragment")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("its parameters cannot be read")
	}
	for k, v := range q {
		switch {
		case k != "server" && k != "code":
			return bad("it has an unknown parameter %q", truncate(k, 32))
		case len(v) != 1:
			return bad("it has the parameter %q more than once", k)
		}
	}
	if len(q["server"]) == 0 {
		return bad("it names no exam server")
	}
	if len(q["code"]) == 0 {
		return bad("it has no join code")
	}
	server, err := ParseServerURL(q.Get("server"))
	if err != nil {
		return JoinLink{}, err
	}
	code := q.Get("code")
	if !transport.ValidJoinCode(code) {
		return bad("%q is not a join code (1 to 64 letters, digits, - or _)", truncate(code, 70))
	}
	return JoinLink{Server: server, Code: code}, nil
}

// ParseServerURL validates a backend base URL (from a link, the managed
// configuration, a flag or the join screen) and returns it normalised:
// http or https only, a host, no user name or password, no query or
// fragment, no trailing slash. A path is kept (a backend behind a reverse
// proxy at https://example.edu/proctor). Errors wrap ErrBadLink.
func ParseServerURL(s string) (string, error) {
	bad := func(format string, a ...any) (string, error) {
		return "", fmt.Errorf("%w: the server address "+format, append([]any{ErrBadLink}, a...)...)
	}
	if len(s) > MaxLinkLength {
		return bad("is too long")
	}
	if hasControl(s) || strings.ContainsAny(s, " \\") {
		return bad("contains spaces or control characters")
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("%q cannot be read", truncate(s, 80))
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return bad("%q is not an http:// or https:// address", truncate(s, 80))
	case u.User != nil || strings.Contains(u.Host, "@"):
		return bad("carries a user name or password")
	case u.Opaque != "" || u.Host == "":
		return bad("%q has no host", truncate(s, 80))
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return bad("has a query or a fragment")
	}
	host := u.Hostname()
	if host == "" || strings.ContainsAny(host, "%") && net.ParseIP(strings.Split(host, "%")[0]) == nil {
		return bad("%q has no valid host", truncate(s, 80))
	}
	if p := u.Port(); p != "" {
		if len(p) > 5 || strings.TrimLeft(p, "0123456789") != "" || atoiPort(p) < 1 || atoiPort(p) > 65535 {
			return bad("has an invalid port %q", truncate(p, 8))
		}
	}
	if strings.HasSuffix(u.Host, ":") { // "host:" or "host:/path": a colon and no port
		return bad("has an empty port")
	}
	out := url.URL{Scheme: scheme, Host: strings.ToLower(u.Host), Path: strings.TrimRight(u.Path, "/")}
	if u.RawPath != "" {
		out.RawPath = strings.TrimRight(u.RawPath, "/")
	}
	return out.String(), nil
}

func atoiPort(p string) int {
	n := 0
	for _, c := range p {
		n = n*10 + int(c-'0')
	}
	return n
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return true
		}
	}
	return false
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
