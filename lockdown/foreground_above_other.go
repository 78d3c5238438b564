//go:build !linux && !windows

package lockdown

import "fmt"

type unsupportedAbove struct{}

func newAboveImpl(func(string) string) aboveImpl { return unsupportedAbove{} }

func (unsupportedAbove) close() {}

func (unsupportedAbove) keep(uint64) error {
	return fmt.Errorf("keep a window on top: %w", ErrUnsupported)
}
