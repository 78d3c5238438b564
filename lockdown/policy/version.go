package policy

import (
	"strconv"
	"strings"
)

// parseRelease parses "x.y" or "x.y.z" (numbers of at most 6 digits). With
// client set, a suffix after '-' or '+' ("0.2.0-rc1", "1.0.0+abc") is
// ignored, so a pre-release or build of x.y.z counts as x.y.z.
func parseRelease(s string, client bool) ([3]int, bool) {
	var r [3]int
	if client {
		if i := strings.IndexAny(s, "-+"); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimPrefix(s, "v")
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return r, false
	}
	for i, p := range parts {
		if p == "" || len(p) > 6 || strings.TrimLeft(p, "0123456789") != "" {
			return r, false
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return r, false
		}
		r[i] = n
	}
	return r, true
}

// ClientOutdated reports whether a client of version is older than the
// policy's min_client_version. A policy without one admits every client;
// with one, a client whose version is not a release number ("", "dev") is
// outdated too, since nothing says it is new enough.
func (p *Policy) ClientOutdated(version string) bool {
	return ClientOutdated(p.MinClientVersion, version)
}

// ClientOutdated reports whether version is older than min (see
// Policy.ClientOutdated). An empty or malformed min admits every client.
func ClientOutdated(min, version string) bool {
	m, ok := parseRelease(min, false)
	if !ok {
		return false
	}
	v, ok := parseRelease(strings.TrimSpace(version), true)
	if !ok {
		return true
	}
	for i := range m {
		if v[i] != m[i] {
			return v[i] < m[i]
		}
	}
	return false
}
