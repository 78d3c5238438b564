//go:build !windows

package exambrowser

import (
	"fmt"
	"os"
	"syscall"
)

// checkPrivate refuses a root folder that another user owns or that others
// may write: they could plant or read profiles.
func checkPrivate(root string, fi os.FileInfo) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("exam browser folder %s belongs to another user (uid %d)", root, st.Uid)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(root, 0o700); err != nil {
			return fmt.Errorf("exam browser folder %s: others may open it (%v), and: %w", root, fi.Mode().Perm(), err)
		}
	}
	return nil
}
