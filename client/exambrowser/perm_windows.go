//go:build windows

package exambrowser

import "os"

// checkPrivate: on Windows the folder is under the user's
// %LocalAppData%, which only that user (and administrators) may open.
func checkPrivate(root string, fi os.FileInfo) error { return nil }
