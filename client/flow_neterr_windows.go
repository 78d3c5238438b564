//go:build windows

package client

import "syscall"

// Winsock's codes, which the net package returns as they are.
const (
	wsaENETDOWN     = syscall.Errno(10050)
	wsaENETUNREACH  = syscall.Errno(10051)
	wsaECONNREFUSED = syscall.Errno(10061)
	wsaEHOSTUNREACH = syscall.Errno(10065)
)

func isRefused(e syscall.Errno) bool { return e == wsaECONNREFUSED || e == syscall.ECONNREFUSED }

func isOffline(e syscall.Errno) bool {
	return e == wsaENETDOWN || e == wsaENETUNREACH || e == wsaEHOSTUNREACH
}
