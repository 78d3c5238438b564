// Package msg holds the small string helpers the student's packages share
// (client, client/exam, client/launch) for what they show and report.
package msg

import "unicode/utf8"

// Truncate shortens s to at most n bytes and an ellipsis for a message,
// without cutting a character in two.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
