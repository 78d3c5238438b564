//go:build windows

package client

func isWindows() bool { return true }
