//go:build !unix && !windows

package launch

func isWindows() bool { return false }
