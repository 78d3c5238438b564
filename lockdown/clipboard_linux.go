package lockdown

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

var clipboardFixes = []string{"Install xclip or xsel (Wayland: wl-clipboard) so the exam can clear the clipboard"}

// clipboardTools are tried in order; each empties the clipboard selection.
var clipboardTools = []struct {
	name    string
	wayland bool
	args    []string
}{
	{"wl-copy", true, []string{"--clear"}},
	{"xsel", false, []string{"--clipboard", "--clear"}},
	{"xclip", false, []string{"-selection", "clipboard", "-i", "/dev/null"}},
}

// clipboardClearer returns the command that will clear the clipboard.
func clipboardClearer() (string, error) {
	x, wl := os.Getenv("DISPLAY") != "", os.Getenv("WAYLAND_DISPLAY") != ""
	if !x && !wl {
		return "", errors.New("no display session (DISPLAY and WAYLAND_DISPLAY are unset)")
	}
	for _, t := range clipboardTools {
		if (t.wayland && !wl) || (!t.wayland && !x) {
			continue
		}
		if path, err := exec.LookPath(t.name); err == nil {
			return path + " " + strings.Join(t.args, " "), nil
		}
	}
	return "", fmt.Errorf("none of wl-copy, xsel, xclip is installed: %w", ErrUnsupported)
}

func clearClipboard(ctx context.Context) error {
	cmdline, err := clipboardClearer()
	if err != nil {
		return fmt.Errorf("clear clipboard: %w", err)
	}
	f := strings.Fields(cmdline)
	cmd := exec.CommandContext(ctx, f[0], f[1:]...)
	// xclip forks a child that keeps owning the (now empty) selection:
	// give it no pipes, or waiting for the output would wait for that child.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("clear clipboard: %s: %w", f[0], err)
	}
	return nil
}
