package launch

import (
	"errors"
	"syscall"
)

// isStaleSocket reports whether dialing an AF_UNIX socket file failed
// because nobody listens on it (WSAECONNREFUSED).
func isStaleSocket(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno) && errno == 10061
}
