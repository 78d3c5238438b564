//go:build !windows

package launch

// isStaleSocket: on Unix a stale socket gives ECONNREFUSED, which
// ClaimInstance checks itself.
func isStaleSocket(error) bool { return false }
