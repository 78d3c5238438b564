//go:build !linux

package backend

import (
	"errors"
	"os"
)

// canSyncFS is false: no portable call flushes a whole file system with
// error reporting, so each session fsyncs its own files.
func canSyncFS() bool { return false }

func syncFS(*os.File) error { return errors.ErrUnsupported }
