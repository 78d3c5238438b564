//go:build !linux

package lockdown

import (
	"context"
	"os"
)

func readProc(ctx context.Context, pid int32) (procInfo, error) { return readProcGeneric(ctx, pid) }

// readIdentity costs as much as readProc here: gopsutil has no cheaper
// per-process read on these systems.

func readIdentity(pid int32) (string, int64, error) {
	info, err := readProcGeneric(context.Background(), pid)
	return info.name, info.create, err
}

func openExe(info procInfo) (*os.File, error) { return os.Open(info.exe) }

func keyOf(path string, fi os.FileInfo) fileKey {
	return fileKey{path: path, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// lastPID: no cheap "a process was created" signal here, so every poll
// lists the pids.
func lastPID() (int64, bool) { return 0, false }
