package client

import (
	"context"

	"github.com/invigil/invigil/lockdown"
)

// SetFocusSource replaces lockdown's foreground reader in a flow (tests).
func (f *Flow) SetFocusSource(src func(ctx context.Context) (lockdown.Foreground, error)) {
	f.setFocusSource(src)
}
