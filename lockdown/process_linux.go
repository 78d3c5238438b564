package lockdown

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/invigil/invigil/lockdown/internal/procid"
)

// On Linux the scanner reads /proc itself: one read of /proc/PID/stat and a
// readlink of /proc/PID/exe per new process, instead of gopsutil's several
// files, which keeps the ~10 polls a second within the CPU budget.

// readIdentity reads the command name and start time from /proc/PID/stat.
// A zombie (exited, not yet reaped) counts as gone.
func readIdentity(pid int32) (string, int64, error) { return procid.Identity(pid) }

func readProc(_ context.Context, pid int32) (procInfo, error) {
	name, create, err := readIdentity(pid)
	if err != nil {
		return procInfo{}, err
	}
	dir := "/proc/" + strconv.Itoa(int(pid))
	exe, err := os.Readlink(dir + "/exe")
	if err == nil {
		exe = strings.TrimSuffix(exe, " (deleted)")
	} else {
		exe = ""
	}
	// The kernel cuts comm at 15 bytes: take the full name from argv[0]
	// when it starts with comm, as gopsutil does.
	if len(name) == 15 {
		if cmd, err := os.ReadFile(dir + "/cmdline"); err == nil {
			arg0, _, _ := bytes.Cut(cmd, []byte{0})
			if base := filepath.Base(string(arg0)); strings.HasPrefix(base, name) {
				name = base
			}
		}
	}
	return procInfo{pid: pid, name: name, exe: exe, create: create}, nil
}

// openExe opens the running executable through /proc, which works even
// when the file was renamed or deleted after the process started.
func openExe(info procInfo) (*os.File, error) {
	return os.Open("/proc/" + strconv.Itoa(int(info.pid)) + "/exe")
}

func keyOf(path string, fi os.FileInfo) fileKey {
	k := fileKey{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.dev, k.ino = uint64(st.Dev), st.Ino
	} else {
		k.path = path
	}
	return k
}

// lastPID returns the last pid the kernel handed out in our pid namespace
// (the fifth field of /proc/loadavg): while it stays the same, no process
// was created. The file stays open; each call is one pread, which makes the
// kernel regenerate its content.
func lastPID() (int64, bool) {
	loadavg.mu.Lock()
	defer loadavg.mu.Unlock()
	if loadavg.f == nil {
		f, err := os.Open("/proc/loadavg")
		if err != nil {
			return 0, false
		}
		loadavg.f = f
	}
	n, err := loadavg.f.ReadAt(loadavg.buf[:], 0)
	if n == 0 && err != nil {
		loadavg.f.Close()
		loadavg.f = nil
		return 0, false
	}
	fields := bytes.Fields(loadavg.buf[:n])
	if len(fields) < 5 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(fields[4]), 10, 64)
	return v, err == nil
}

// loadavg is /proc/loadavg, opened once for the life of the process (one
// file descriptor).
var loadavg struct {
	mu  sync.Mutex
	f   *os.File
	buf [128]byte
}
