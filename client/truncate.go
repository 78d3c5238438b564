package client

import "unicode/utf8"

// truncate shortens s to at most n bytes (and an ellipsis) for a message,
// without cutting a character in two.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
