package credstore

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
)

// Implemented reports whether this OS has a credential store (the Linux
// kernel keyring, Windows DPAPI, the macOS Keychain). Where it has one, a
// Put failing with ErrUnsupported means the store is refused at run time,
// such as keyctl blocked by a container's seccomp profile.
const Implemented = runtime.GOOS == "linux" || runtime.GOOS == "windows" || runtime.GOOS == "darwin"

// Errors a caller branches on.
var (
	// ErrUnsupported: no credential store is available here.
	ErrUnsupported = errors.New("no OS credential store available")
	// ErrNotFound: the store holds no secret of that name (for the Linux
	// keyring: also after a reboot).
	ErrNotFound = errors.New("credential not found")
)

// osStore is one OS's credential store. dir is the caller's private
// directory, for stores that keep a sealed blob in a file (DPAPI).
type osStore interface {
	kind() string
	put(dir, name string, secret []byte) error
	get(dir, name string) ([]byte, error)
	del(dir, name string) error
}

var validName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func check(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("credential name %q: 1-128 of A-Za-z0-9._-", name)
	}
	return nil
}

// Put stores secret under name and returns the kind of store that holds it
// ("keyring", "dpapi", "keychain"), or an error wrapping ErrUnsupported
// when this computer has none.
func Put(dir, name string, secret []byte) (string, error) {
	if err := check(name); err != nil {
		return "", err
	}
	s, err := open()
	if err != nil {
		return "", err
	}
	if err := s.put(dir, name, secret); err != nil {
		return "", fmt.Errorf("store credential in %s: %w", s.kind(), err)
	}
	return s.kind(), nil
}

// Get returns the secret stored under name by a store of kind.
func Get(dir, kind, name string) ([]byte, error) {
	if err := check(name); err != nil {
		return nil, err
	}
	s, err := open()
	if err != nil {
		return nil, err
	}
	if s.kind() != kind {
		return nil, fmt.Errorf("%w: the credential is in a %s store, this computer has %s", ErrNotFound, kind, s.kind())
	}
	b, err := s.get(dir, name)
	if err != nil {
		return nil, fmt.Errorf("read credential from %s: %w", kind, err)
	}
	return b, nil
}

// Delete removes the secret stored under name; a missing one is no error.
func Delete(dir, kind, name string) error {
	if err := check(name); err != nil {
		return err
	}
	s, err := open()
	if err != nil {
		return err
	}
	if s.kind() != kind {
		return nil
	}
	if err := s.del(dir, name); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete credential from %s: %w", kind, err)
	}
	return nil
}
