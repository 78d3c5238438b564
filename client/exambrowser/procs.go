package exambrowser

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

// processStart is a process's start time (Unix ms), which together with
// its pid names it: pids are reused.
func processStart(pid int) (int64, error) {
	p, err := process.NewProcess(int32(pid))
	if err != nil {
		return 0, err
	}
	return p.CreateTime()
}

// sameProcess reports whether pid still names the process that started at
// started (Unix ms).
func sameProcess(pid int, started int64) bool {
	if pid <= 0 {
		return false
	}
	t, err := processStart(pid)
	return err == nil && t == started
}

// usesDir reports whether a command line names the user data directory
// dir: --user-data-dir=dir (every Chromium process has it), or a path in
// it (the crash handler's --database=dir/Crash Reports). The folder names
// are random, so this matches only that browser's processes.
func usesDir(cmdline, dir string) bool {
	if dir == "" {
		return false
	}
	rest := cmdline
	for {
		i := strings.Index(rest, dir)
		if i < 0 {
			return false
		}
		rest = rest[i+len(dir):]
		if rest == "" || strings.ContainsRune(" \x00\"/\\", rune(rest[0])) {
			return true
		}
	}
}

// procInfo is one process of the table.
type procInfo struct {
	pid, ppid int
	cmdline   string
}

// processTable lists the processes this user can see.
func processTable(ctx context.Context) ([]procInfo, error) {
	pids, err := process.PidsWithContext(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]procInfo, 0, len(pids))
	for _, pid := range pids {
		p := &process.Process{Pid: pid}
		ppid, err := p.PpidWithContext(ctx)
		if err != nil {
			continue // gone, or not ours
		}
		cmd, _ := p.CmdlineWithContext(ctx)
		out = append(out, procInfo{pid: int(pid), ppid: int(ppid), cmdline: cmd})
	}
	return out, nil
}

// treeOf returns root and its descendants, plus every process that uses
// the user data directory dir (a helper whose parent died), sorted.
func treeOf(ctx context.Context, root int, dir string) []int {
	procs, err := processTable(ctx)
	if err != nil {
		if root > 0 {
			return []int{root}
		}
		return nil
	}
	in := map[int]bool{}
	if root > 0 {
		for _, p := range procs {
			if p.pid == root {
				in[root] = true
			}
		}
	}
	for _, p := range procs {
		if dir != "" && usesDir(p.cmdline, dir) {
			in[p.pid] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, p := range procs {
			if !in[p.pid] && in[p.ppid] {
				in[p.pid], changed = true, true
			}
		}
	}
	out := make([]int, 0, len(in))
	for pid := range in {
		out = append(out, pid)
	}
	slices.Sort(out)
	return out
}

// killUsing kills every process that uses the user data directory dir, and
// looks again until it finds none three times in a row (a zygote can fork
// just as it is killed); it gives up after 5 s. It returns how many it
// killed.
func killUsing(ctx context.Context, dir string) (int, error) {
	killed := map[int]bool{}
	deadline := time.Now().Add(5 * time.Second)
	quiet := 0
	var lastErr error
	for quiet < 3 {
		procs, err := processTable(ctx)
		if err != nil {
			return len(killed), err
		}
		found := 0
		for _, p := range procs {
			if !usesDir(p.cmdline, dir) || p.pid == os.Getpid() {
				continue
			}
			found++
			if err := (&process.Process{Pid: int32(p.pid)}).KillWithContext(ctx); err == nil {
				killed[p.pid] = true
			} else {
				lastErr = err
			}
		}
		if found == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			if found > 0 {
				return len(killed), lastErr
			}
			break
		}
		select {
		case <-ctx.Done():
			return len(killed), ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return len(killed), nil
}

// alive reports whether pid runs (a zombie does not).
func alive(ctx context.Context, pid int) bool {
	p, err := process.NewProcessWithContext(ctx, int32(pid))
	if err != nil {
		return false
	}
	st, err := p.StatusWithContext(ctx)
	if err == nil && len(st) > 0 && st[0] == process.Zombie {
		return false
	}
	return true
}

// killPIDs kills the processes that still run.
func killPIDs(pids []int) {
	for _, pid := range pids {
		if alive(context.Background(), pid) {
			(&process.Process{Pid: int32(pid)}).Kill()
		}
	}
}

// waitGone waits until none of pids runs.
func waitGone(ctx context.Context, pids []int) error {
	for {
		var left []int
		for _, pid := range pids {
			if alive(ctx, pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("exam browser processes %v still run", left)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
