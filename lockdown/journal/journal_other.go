//go:build !windows

package journal

// registerOSUndoers: Linux and macOS changes so far are files
// (file.restore) or need no undo (closing processes, clearing the
// clipboard). macOS kiosk settings (defaults write) would register here.
func registerOSUndoers(map[string]Undoer) {}
