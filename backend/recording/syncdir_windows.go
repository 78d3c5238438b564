//go:build windows

package recording

// syncDir is a no-op: Windows cannot fsync a directory; NTFS journals the
// entry itself.
func syncDir(string) error { return nil }
