//go:build linux

package credstore

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// keyring keeps secrets as "user" keys in the kernel's user keyring
// (@u, keyctl(2)): in kernel memory, readable only by this user.
type keyring struct{}

func open() (osStore, error) {
	// The user keyring exists (or is created) for every user; a kernel or
	// container without keyctl fails here.
	if _, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_KEYRING, true); err != nil {
		return nil, fmt.Errorf("%w: kernel keyring: %v", ErrUnsupported, err)
	}
	return keyring{}, nil
}

func (keyring) kind() string { return "keyring" }

func desc(name string) string { return "invigil:" + name }

func (keyring) put(_, name string, secret []byte) error {
	_, err := unix.AddKey("user", desc(name), secret, unix.KEY_SPEC_USER_KEYRING)
	return err
}

func (keyring) get(_, name string) ([]byte, error) {
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", desc(name), 0)
	if errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.EKEYREVOKED) || errors.Is(err, unix.EKEYEXPIRED) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, nil, 0)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if n, err = unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0); err != nil {
		return nil, err
	}
	return buf[:min(n, len(buf))], nil
}

func (keyring) del(_, name string) error {
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_USER_KEYRING, "user", desc(name), 0)
	if errors.Is(err, unix.ENOKEY) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	_, err = unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_USER_KEYRING, 0, 0)
	return err
}
