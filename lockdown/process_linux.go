package lockdown

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// On Linux the scanner reads /proc itself: one read of /proc/PID/stat and a
// readlink of /proc/PID/exe per new process, instead of gopsutil's several
// files, which keeps the ~10 polls a second within the CPU budget.

var bootTime = sync.OnceValues(func() (int64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("no btime in /proc/stat")
})

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// readIdentity reads the command name and start time from /proc/PID/stat.
// A zombie (exited, not yet reaped) counts as gone.
func readIdentity(pid int32) (string, int64, error) {
	var buf [512]byte
	f, err := os.Open("/proc/" + strconv.Itoa(int(pid)) + "/stat")
	if err != nil {
		return "", 0, err
	}
	n, err := f.Read(buf[:])
	f.Close()
	if err != nil {
		return "", 0, err
	}
	b := buf[:n]
	open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || close < open {
		return "", 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	name := string(b[open+1 : close])
	// Fields after the name: state is field 3, starttime field 22.
	fields := bytes.Fields(b[close+1:])
	if len(fields) < 20 {
		return "", 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	if st := fields[0]; len(st) == 1 && (st[0] == 'Z' || st[0] == 'X') {
		return "", 0, errGone
	}
	// exit_signal (field 38) is -1 for a thread that is not its process's
	// leader: its id is reachable under /proc but it is not a process.
	if len(fields) > 35 && string(fields[35]) == "-1" {
		return "", 0, errThread
	}
	ticks, err := strconv.ParseInt(string(fields[19]), 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	bt, err := bootTime()
	if err != nil {
		return "", 0, err
	}
	return name, bt*1000 + ticks*1000/clockTicks, nil
}

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
