package lockdown

import (
	"errors"
	"testing"

	"golang.org/x/sys/windows/registry"
)

// TestWindowsVMKeyError: a registry failure keeps its cause, so a caller
// can tell a missing key from a refused one.
func TestWindowsVMKeyError(t *testing.T) {
	_, err := detectVMKey(`HARDWARE\DESCRIPTION\System\NoSuchKeyForInvigilTests`)
	if !errors.Is(err, registry.ErrNotExist) {
		t.Fatalf("detectVMKey on a missing key: %v, want an error wrapping registry.ErrNotExist", err)
	}
}
