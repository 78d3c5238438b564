package backend

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// canSyncFS: syncfs(2) flushes every file of one file system, data and
// metadata, and (since Linux 5.8) reports the write-back errors of any of
// them.
const canSyncFS = true

func syncFS(dir *os.File) error {
	if err := unix.Syncfs(int(dir.Fd())); err != nil {
		return fmt.Errorf("syncfs: %w", err)
	}
	return nil
}
