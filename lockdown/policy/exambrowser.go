package policy

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ExamBrowser is where the exam itself happens: a web page (an LMS quiz, a
// form) that the client opens in a browser window it launches and controls
// (package client/exambrowser). The zero value means no exam browser: the
// student works as the teacher said, as before.
type ExamBrowser struct {
	// StartURL is the page the exam browser opens when the exam starts
	// (an absolute http or https URL). Empty: no exam browser.
	StartURL string `json:"start_url,omitempty"`
	// Allowed are the URL prefixes the exam browser may visit (absolute
	// http or https URLs without query or fragment; see MatchURLPrefix).
	// The start URL must be inside one of them. Absent: the start URL's
	// origin (scheme, host and port).
	Allowed []string `json:"allowed,omitempty"`
}

// Enabled reports whether the policy has an exam browser.
func (e ExamBrowser) Enabled() bool { return e.StartURL != "" }

// AllowedPrefixes are the prefixes in force: Allowed, or the start URL's
// origin when Allowed is empty. Nil without an exam browser.
func (e ExamBrowser) AllowedPrefixes() []string {
	if !e.Enabled() {
		return nil
	}
	if len(e.Allowed) > 0 {
		return append([]string(nil), e.Allowed...)
	}
	u, err := url.Parse(e.StartURL)
	if err != nil {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host + "/"}
}

// Allows reports whether the exam browser may visit rawURL.
func (e ExamBrowser) Allows(rawURL string) bool {
	for _, p := range e.AllowedPrefixes() {
		if MatchURLPrefix(p, rawURL) {
			return true
		}
	}
	return false
}

// MatchURLPrefix reports whether rawURL is inside prefix. Scheme and host
// compare without regard to case, and a default port (80 for http, 443 for
// https) equals none; the host must be equal, so "https://lms.example.edu"
// does not let in "https://lms.example.edu.evil.example". The path matches
// by segments: "/quiz" covers "/quiz", "/quiz/1" and "/quiz?page=2" but
// not "/quizzes"; "/quiz/" covers everything below "/quiz/". An empty path
// is "/". The query and fragment of rawURL do not matter. A URL with
// user information ("https://user@host/") never matches.
func MatchURLPrefix(prefix, rawURL string) bool {
	p, err := url.Parse(prefix)
	if err != nil {
		return false
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.User != nil || p.User != nil || u.Opaque != "" {
		return false
	}
	ps, us := strings.ToLower(p.Scheme), strings.ToLower(u.Scheme)
	if ps != us || (us != "http" && us != "https") {
		return false
	}
	if hostPort(p) != hostPort(u) || hostPort(u) == "" {
		return false
	}
	pp, up := p.EscapedPath(), u.EscapedPath()
	if pp == "" {
		pp = "/"
	}
	if up == "" {
		up = "/"
	}
	if up == pp || strings.HasSuffix(pp, "/") && strings.HasPrefix(up, pp) {
		return true
	}
	return strings.HasPrefix(up, pp+"/")
}

// hostPort is u's host, lower-cased, with the scheme's default port
// dropped.
func hostPort(u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	switch {
	case port == "80" && strings.EqualFold(u.Scheme, "http"), port == "443" && strings.EqualFold(u.Scheme, "https"):
		port = ""
	}
	if port == "" {
		return host
	}
	return net.JoinHostPort(host, port)
}

// maxURLLength bounds the exam browser's URLs.
const maxURLLength = 2048

// validate adds the exam_browser problems to v.
func (e ExamBrowser) validate(v *validator) {
	if e.StartURL == "" {
		if len(e.Allowed) > 0 {
			v.add("exam_browser.start_url", "is empty while allowed lists prefixes: set the page the exam starts on")
		}
		return
	}
	startOK := checkExamURL(v, "exam_browser.start_url", e.StartURL, true)
	prefixesOK := true
	for i, a := range e.Allowed {
		if !checkExamURL(v, fmt.Sprintf("exam_browser.allowed[%d]", i), a, false) {
			prefixesOK = false
		}
	}
	if startOK && prefixesOK && len(e.Allowed) > 0 && !e.Allows(e.StartURL) {
		v.add("exam_browser.start_url", "%q is not inside any of the allowed prefixes", e.StartURL)
	}
}

// checkExamURL checks one exam-browser URL; a start URL may have a query
// and a fragment, a prefix may not.
func checkExamURL(v *validator, at, raw string, start bool) bool {
	if len(raw) > maxURLLength {
		v.add(at, "is %d bytes long, at most %d", len(raw), maxURLLength)
		return false
	}
	if strings.TrimSpace(raw) != raw || strings.ContainsAny(raw, " \t\r\n") {
		v.add(at, "%q contains white space", raw)
		return false
	}
	u, err := url.Parse(raw)
	if err != nil {
		v.add(at, "%q is not a URL: %v", raw, err)
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		v.add(at, "%q: want an absolute http:// or https:// URL", raw)
	case u.Opaque != "" || u.Hostname() == "":
		v.add(at, "%q has no host: want an absolute http:// or https:// URL", raw)
	case u.User != nil:
		v.add(at, "%q contains a user name or password: leave them out (the student signs in on the page)", raw)
	case !start && (u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#")):
		v.add(at, "%q has a query or fragment: a prefix is scheme, host, port and path", raw)
	default:
		return true
	}
	return false
}
