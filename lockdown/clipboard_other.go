//go:build !linux && !windows && !darwin

package lockdown

import "context"

var clipboardFixes []string

func clipboardClearer() (string, error) { return "", ErrUnsupported }

func clearClipboard(context.Context) error { return ErrUnsupported }
