//go:build darwin

package credstore

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// keychain keeps secrets as generic passwords in the login Keychain, through
// /usr/bin/security (the Security framework needs cgo). Compiled and vetted
// here; not run (no macOS machine).
type keychain struct{}

const service = "invigil"

func open() (osStore, error) {
	if _, err := exec.LookPath("/usr/bin/security"); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return keychain{}, nil
}

func (keychain) kind() string { return "keychain" }

func security(stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command("/usr/bin/security", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 44 { // errSecItemNotFound
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("security %s: %w: %s", args[0], err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

func (keychain) put(_, name string, secret []byte) error {
	// -w as the last option reads the password from standard input, so the
	// secret never appears in a process listing.
	_, err := security(append(append([]byte(nil), secret...), '\n'), "add-generic-password", "-U", "-s", service, "-a", name, "-w")
	return err
}

func (keychain) get(_, name string) ([]byte, error) {
	out, err := security(nil, "find-generic-password", "-s", service, "-a", name, "-w")
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(out, "\n"), nil
}

func (keychain) del(_, name string) error {
	_, err := security(nil, "delete-generic-password", "-s", service, "-a", name)
	return err
}
