//go:build !windows

package client

import "syscall"

func isRefused(e syscall.Errno) bool { return e == syscall.ECONNREFUSED }

func isOffline(e syscall.Errno) bool {
	return e == syscall.ENETUNREACH || e == syscall.EHOSTUNREACH || e == syscall.ENETDOWN
}
