package procid

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

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

// Identity reads the command name and start time from /proc/PID/stat.
// A zombie (exited, not yet reaped) counts as gone. The start time is in
// milliseconds since the epoch.
func Identity(pid int32) (string, int64, error) {
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
		return "", 0, ErrGone
	}
	// exit_signal (field 38) is -1 for a thread that is not its process's
	// leader: its id is reachable under /proc but it is not a process.
	if len(fields) > 35 && string(fields[35]) == "-1" {
		return "", 0, ErrThread
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
