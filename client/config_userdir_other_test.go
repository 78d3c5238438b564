//go:build !unix && !windows

package client

func isWindows() bool { return false }
