//go:build windows

package transport

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/windows"
)

// lockDir takes an exclusive lock on dir/lock so that two client processes
// never share a spool. The lock dies with the process.
func lockDir(dir string) (func() error, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	ol := new(windows.Overlapped)
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if err != nil {
		f.Close()
		if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
			return nil, ErrSpoolLocked
		}
		return nil, err
	}
	return f.Close, nil
}

func isDiskFull(err error) bool {
	return errors.Is(err, syscall.Errno(windows.ERROR_DISK_FULL)) || errors.Is(err, syscall.Errno(windows.ERROR_HANDLE_DISK_FULL))
}

// syncDir is a no-op: Windows has no directory fsync; NTFS journals renames.
func syncDir(string) {}
