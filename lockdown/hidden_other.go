//go:build !linux && !windows && !darwin

package lockdown

import (
	"context"
	"fmt"
)

// listHiddenWindows has no implementation here: see "Non-Linux status" in
// doc.go.
func listHiddenWindows(context.Context, int32) (windowScan, error) {
	return windowScan{}, fmt.Errorf("hidden windows: %w", ErrUnsupported)
}
