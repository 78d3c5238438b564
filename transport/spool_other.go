//go:build !unix && !windows

package transport

// lockDir cannot lock on this platform; a second process on the same spool
// is not detected.
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }

func isDiskFull(error) bool { return false }

func syncDir(string) {}
