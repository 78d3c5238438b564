//go:build !windows

package lockdown

import "fmt"

// startKiosk: only Windows has a desktop lockdown so far (see doc.go).
func startKiosk(kioskConfig) (kioskHandle, error) {
	return nil, fmt.Errorf("desktop lockdown: %w", ErrUnsupported)
}
