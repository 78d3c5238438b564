package lockdown

import (
	"context"
	"fmt"
	"os/exec"
)

var clipboardFixes = []string{"Make sure /usr/bin/pbcopy is present"}

func clipboardClearer() (string, error) {
	p, err := exec.LookPath("pbcopy")
	if err != nil {
		return "", fmt.Errorf("pbcopy: %w", ErrUnsupported)
	}
	return p + " </dev/null", nil
}

// clearClipboard puts an empty string on the pasteboard.
func clearClipboard(ctx context.Context) error {
	if _, err := clipboardClearer(); err != nil {
		return fmt.Errorf("clear clipboard: %w", err)
	}
	if out, err := exec.CommandContext(ctx, "pbcopy").CombinedOutput(); err != nil {
		return fmt.Errorf("clear clipboard: pbcopy: %w: %s", err, out)
	}
	return nil
}
