package launch

import (
	"errors"
	"fmt"
	"github.com/invigil/invigil/client/internal/msg"
	"net"
	"net/url"
	"strconv"
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

// ServerAddressError is ParseServerURL's error: Problem says what is wrong
// with the address ("has no host"), for a screen that names the address
// already. It wraps ErrBadLink.
type ServerAddressError struct{ Problem string }

func (e *ServerAddressError) Error() string {
	return ErrBadLink.Error() + ": the server address " + e.Problem
}

func (e *ServerAddressError) Unwrap() error { return ErrBadLink }

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
			return bad("it has an unknown parameter %q", msg.Truncate(k, 32))
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
		return bad("%q is not a join code (1 to 64 letters, digits, - or _)", msg.Truncate(code, 70))
	}
	return JoinLink{Server: server, Code: code}, nil
}

// MaxServerLength bounds a server address. Real ones are under 100 bytes;
// the bound keeps a link's canonical form (which escapes the address) under
// MaxLinkLength.
const MaxServerLength = 512

// ParseServerURL validates a backend base URL (from a link, the managed
// configuration, a flag or the join screen) and returns it normalised. The
// grammar is deliberately narrower than RFC 3986, so that what a student or
// an IT admin sees is what the client connects to:
//
//   - http or https;
//   - a host that is a DNS name (letters, digits, "-" and "_" in dot-separated
//     labels; an internationalised name in its xn-- form), an IPv4 address or
//     a bracketed IPv6 address without a zone;
//   - an optional port, 1 to 65535;
//   - an optional path of letters, digits, "-", ".", "_", "~" and "/" (a
//     backend behind a reverse proxy at https://example.edu/proctor), without
//     "." or ".." segments or empty ones;
//   - no user name or password, no "@" anywhere (look-alike links such as
//     https://evil.example/@proctor.example.edu), no percent-escapes, no
//     query or fragment.
//
// The result has the scheme and host in lower case, the port without leading
// zeros and no trailing slash. Errors wrap ErrBadLink.
func ParseServerURL(s string) (string, error) {
	bad := func(format string, a ...any) (string, error) {
		return "", &ServerAddressError{Problem: fmt.Sprintf(format, a...)}
	}
	if len(s) > MaxServerLength {
		return bad("is too long (at most %d characters)", MaxServerLength)
	}
	if !utf8.ValidString(s) || hasControl(s) || strings.ContainsAny(s, " \\") {
		return bad("contains spaces or control characters")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	scheme = strings.ToLower(scheme)
	if !ok || scheme != "http" && scheme != "https" {
		return bad("%q is not an http:// or https:// address", msg.Truncate(s, 80))
	}
	hostport, path, _ := strings.Cut(rest, "/")
	switch {
	case strings.Contains(hostport, "@"):
		return bad("carries a user name or password")
	case strings.ContainsAny(s, "?#"):
		return bad("has a query or a fragment")
	case strings.Contains(s, "@"):
		return bad("contains an @")
	case strings.Contains(s, "%"):
		return bad("contains a percent-escape")
	case hostport == "":
		return bad("%q has no host", msg.Truncate(s, 80))
	}
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.Index(hostport, "]")
		if end < 0 {
			return bad("has an unclosed [ in its host")
		}
		host, port = hostport[1:end], hostport[end+1:]
		if net.ParseIP(host) == nil || !strings.Contains(host, ":") {
			return bad("%q is not an IPv6 address", msg.Truncate(host, 64))
		}
		host = "[" + strings.ToLower(host) + "]"
		if port != "" && !strings.HasPrefix(port, ":") {
			return bad("has something after its IPv6 address")
		}
	} else {
		if i := strings.LastIndex(hostport, ":"); i >= 0 {
			host, port = hostport[:i], hostport[i:]
		}
		if err := checkHostName(host); err != "" {
			return bad("%s", err)
		}
		host = strings.ToLower(host)
	}
	if port != "" {
		p := port[1:]
		if p == "" {
			return bad("has an empty port")
		}
		// Digits only (Atoi takes a sign), at most five of them.
		n, err := strconv.Atoi(p)
		if err != nil || len(p) > 5 || strings.TrimLeft(p, "0123456789") != "" || n < 1 || n > 65535 {
			return bad("has an invalid port %q", msg.Truncate(p, 8))
		}
		port = ":" + strconv.Itoa(n)
	}
	out := scheme + "://" + host + port
	if trimmed := strings.TrimRight(path, "/"); trimmed != "" {
		for seg := range strings.SplitSeq(trimmed, "/") {
			switch {
			case seg == "" || seg == "." || seg == "..":
				return bad("has an empty, . or .. segment in its path")
			case strings.TrimFunc(seg, isPathChar) != "":
				return bad("path %q may only have letters, digits, -, ., _, ~ and /", msg.Truncate(path, 64))
			}
		}
		out += "/" + trimmed
	}
	return out, nil
}

// checkHostName says what is wrong with a DNS host name, or "".
func checkHostName(h string) string {
	if h == "" {
		return "has no host"
	}
	if len(h) > 253 {
		return "has a host name longer than 253 characters"
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Sprintf("host %q has an empty or over-long label", msg.Truncate(h, 64))
		}
		for _, r := range label {
			if r >= utf8.RuneSelf {
				return fmt.Sprintf("host %q is not ASCII (write an internationalised name in its xn-- form)", msg.Truncate(h, 64))
			}
			if !isAlnum(r) && r != '-' && r != '_' {
				return fmt.Sprintf("host %q may only have letters, digits, - and _ between its dots", msg.Truncate(h, 64))
			}
		}
	}
	return ""
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func isPathChar(r rune) bool { return isAlnum(r) || strings.ContainsRune("-._~", r) }

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return true
		}
	}
	return false
}

// ParseTypedServer reads a server address as a person types it (the join
// screen): an address with a scheme goes through ParseServerURL unchanged;
// one without gets https://, except a loopback host (localhost, 127.0.0.0/8,
// [::1]), which gets http:// since a backend on this very computer (the
// demo, a local test) serves plain http and its traffic never leaves the
// machine. A typed https:// address is never turned into http:// and an
// address without a scheme is never tried over http when the host is
// elsewhere: a server that only speaks http needs http:// typed out.
func ParseTypedServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "://") {
		return ParseServerURL(s)
	}
	scheme := "https://"
	hostport, _, _ := strings.Cut(s, "/")
	if isLoopbackHost(hostport) {
		scheme = "http://"
	}
	return ParseServerURL(scheme + s)
}

// isLoopbackHost reports whether a host[:port] names this computer.
func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
