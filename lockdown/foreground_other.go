//go:build !linux && !windows

package lockdown

import "fmt"

func newForegroundSource(func(string) string) foregroundSource { return unsupportedForeground{} }

// unsupportedForeground: which program has the focus cannot be told here
// (macOS would need the Accessibility or AppKit APIs; see "Non-Linux
// status" in doc.go).
type unsupportedForeground struct{}

func (unsupportedForeground) close() {}

func (unsupportedForeground) read() (rawForeground, error) {
	return rawForeground{}, fmt.Errorf("focused program: %w", ErrUnsupported)
}
