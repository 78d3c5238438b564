package lockdown

import (
	"context"
	"fmt"

	"golang.org/x/sys/windows"
)

var clipboardFixes = []string{"Close programs that hold the clipboard open, then run the check again"}

var (
	user32             = windows.NewLazySystemDLL("user32.dll")
	procOpenClipboard  = user32.NewProc("OpenClipboard")
	procEmptyClipboard = user32.NewProc("EmptyClipboard")
	procCloseClipboard = user32.NewProc("CloseClipboard")
)

func clipboardClearer() (string, error) {
	if err := procEmptyClipboard.Find(); err != nil {
		return "", fmt.Errorf("user32 EmptyClipboard: %w", err)
	}
	return "user32 EmptyClipboard", nil
}

func clearClipboard(context.Context) error {
	if r, _, err := procOpenClipboard.Call(0); r == 0 {
		return fmt.Errorf("clear clipboard: OpenClipboard: %w", err)
	}
	defer procCloseClipboard.Call()
	if r, _, err := procEmptyClipboard.Call(); r == 0 {
		return fmt.Errorf("clear clipboard: EmptyClipboard: %w", err)
	}
	return nil
}
