//go:build !unix && !windows

package launch

import (
	"errors"
	"os"
)

func osCurrentUser() (userIdentity, error) {
	return userIdentity{}, errors.New("no user identity on this system")
}

// prepareUserDir has no owners or modes to set here.
func prepareUserDir(base, dir string) error { return os.MkdirAll(dir, 0o700) }
