package lockdown

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// TestRereadSchedule: a young process is re-read at ages of about 0.1,
// 0.2, 0.4, 0.8 and 1.6 s with 100 ms polls, early or late by a few
// milliseconds, and not again once it is youngFor old. A process found by
// the first listing (zero seen) is never re-read before the sweep.
func TestRereadSchedule(t *testing.T) {
	ms := func(ds ...int) []time.Duration {
		var out []time.Duration
		for _, d := range ds {
			out = append(out, time.Duration(d)*time.Millisecond)
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		poll   time.Duration
		jitter func(i int) time.Duration
		want   []time.Duration
	}{
		{"100 ms polls", 100 * time.Millisecond, nil, ms(100, 200, 400, 800, 1600)},
		{"100 ms polls, jitter", 100 * time.Millisecond, func(i int) time.Duration {
			return time.Duration(3-6*(i%2)) * time.Millisecond // odd polls 3 ms early, even ones 3 ms late
		}, ms(100, 200, 400, 800, 1600)},
		{"150 ms polls (the default)", 150 * time.Millisecond, nil, ms(150, 300, 600, 1200)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seen := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
			e := &procEntry{seen: seen, readAt: seen}
			var got []time.Duration
			for i := 1; time.Duration(i)*tt.poll <= 3*youngFor; i++ {
				now := seen.Add(time.Duration(i) * tt.poll)
				if tt.jitter != nil {
					now = now.Add(tt.jitter(i))
				}
				if e.due(now) {
					got = append(got, now.Sub(seen).Round(10*time.Millisecond))
					e.readAt = now
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("re-read at ages %v, want %v", got, tt.want)
			}
		})
	}

	old := &procEntry{readAt: time.Now()}
	for _, d := range []time.Duration{100 * time.Millisecond, time.Second, 5 * time.Second} {
		if old.due(old.readAt.Add(d)) {
			t.Errorf("process of the first listing due %v after its read", d)
		}
	}
}

// fakeProcs is a process table for procScanner: procs by pid, changed by
// the test between scans. lastPID is reported only when hasLast (Linux);
// otherwise every scan lists, as on Windows and macOS.
type fakeProcs struct {
	procs   map[int32]procInfo
	last    int64
	hasLast bool
	reads   map[int32]int // reads of each pid, identity or full
}

func (f *fakeProcs) source() procSource {
	return procSource{
		pids: func(context.Context) ([]int32, error) {
			return slices.Sorted(maps.Keys(f.procs)), nil
		},
		lastPID: func() (int64, bool) { return f.last, f.hasLast },
		read: func(_ context.Context, pid int32) (procInfo, error) {
			f.reads[pid]++
			p, ok := f.procs[pid]
			if !ok {
				return procInfo{}, fs.ErrNotExist
			}
			return p, nil
		},
		identity: func(pid int32) (string, int64, error) {
			f.reads[pid]++
			p, ok := f.procs[pid]
			if !ok {
				return "", 0, fs.ErrNotExist
			}
			return p.name, p.create, nil
		},
	}
}

// TestScannerFirstListingForkExec: a process that the first listing finds
// between fork and exec (under its parent's name) and that then execs a
// prohibited program is flagged within a few polls, not at the sweep
// sweepEvery later. Its start time, a moment before the listing, is what
// marks it new; start times may be ~1 s off the wall clock either way
// (Linux derives them from the boot time in whole seconds). A process
// started long before is read once and left to the sweep.
func TestScannerFirstListingForkExec(t *testing.T) {
	p := &policy.Policy{Processes: policy.Processes{Prohibited: []policy.ProcessRule{{
		ID: "anydesk", Name: "AnyDesk", Category: "remote_access",
		Names: policy.OSList{All: []string{"anydesk"}}, Action: policy.Block,
	}}}}
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	const old = 100
	forked := map[int32]time.Duration{ // pid: start time relative to the first listing
		200: -50 * time.Millisecond,
		201: time.Second, // start time ahead of the wall clock
		202: -2500 * time.Millisecond,
	}
	for _, linux := range []bool{true, false} {
		t.Run(fmt.Sprintf("lastPID=%v", linux), func(t *testing.T) {
			f := &fakeProcs{procs: map[int32]procInfo{}, last: 300, hasLast: linux, reads: map[int32]int{}}
			f.procs[old] = procInfo{pid: old, name: "sh", exe: "/bin/sh", create: t0.Add(-time.Hour).UnixMilli()}
			for pid, d := range forked {
				f.procs[pid] = procInfo{pid: pid, name: "bash", exe: "/usr/bin/bash", create: t0.Add(d).UnixMilli()}
			}
			s := newProcScanner(p)
			s.src = f.source()
			out, err := s.scan(context.Background(), t0)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.findings) != 0 {
				t.Fatalf("first listing: findings %v before any exec", out.findings)
			}
			for pid := range forked { // exec, keeping the pid and start time
				f.procs[pid] = procInfo{pid: pid, name: "anydesk", exe: "/opt/anydesk/anydesk", create: f.procs[pid].create}
			}
			flagged := map[int32]time.Duration{}
			for now := t0.Add(100 * time.Millisecond); now.Before(t0.Add(2 * time.Second)); now = now.Add(100 * time.Millisecond) {
				out, err := s.scan(context.Background(), now)
				if err != nil {
					t.Fatal(err)
				}
				for _, fd := range out.findings {
					if _, ok := flagged[fd.PID]; !ok {
						flagged[fd.PID] = now.Sub(t0)
					}
				}
			}
			for pid, d := range forked {
				at, ok := flagged[pid]
				switch {
				case !ok:
					t.Errorf("pid %d (started %v from the first listing), exec'd anydesk just after it: not flagged within 2 s", pid, d)
				case at > 500*time.Millisecond:
					t.Errorf("pid %d flagged %v after the first listing, want within 0.5 s", pid, at)
				}
			}
			if n := f.reads[old]; n != 1 {
				t.Errorf("process started an hour before the first listing read %d times before the sweep, want once", n)
			}
		})
	}
}

// TestScannerListingRetriesUnseenPids: on Linux a pid is handed out (it
// shows in /proc/loadavg) a moment before the process appears in /proc. A
// listing that runs in that moment, the first one or a sweep, does not see
// it; the scanner probes such ids again on the next polls, as it does ids
// found missing by a probe, instead of leaving them to the next sweep.
func TestScannerListingRetriesUnseenPids(t *testing.T) {
	p := &policy.Policy{Processes: policy.Processes{Prohibited: []policy.ProcessRule{{
		ID: "anydesk", Name: "AnyDesk", Category: "remote_access",
		Names: policy.OSList{All: []string{"anydesk"}}, Action: policy.Block,
	}}}}
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	f := &fakeProcs{procs: map[int32]procInfo{}, last: 300, hasLast: true, reads: map[int32]int{}}
	f.procs[100] = procInfo{pid: 100, name: "sh", exe: "/bin/sh", create: t0.Add(-time.Hour).UnixMilli()}
	s := newProcScanner(p)
	s.src = f.source()
	// appear makes pid visible as anydesk after a listing at at missed it,
	// and reports how long after that listing the scanner flags it.
	appear := func(pid int32, at time.Time) time.Duration {
		t.Helper()
		f.last = int64(pid) // handed out, not yet in /proc
		out, err := s.scan(context.Background(), at)
		if err != nil {
			t.Fatal(err)
		}
		if !out.listed {
			t.Fatalf("scan at %v did not list", at.Sub(t0))
		}
		f.procs[pid] = procInfo{pid: pid, name: "anydesk", exe: "/opt/anydesk/anydesk", create: at.UnixMilli()}
		for now := at.Add(100 * time.Millisecond); now.Before(at.Add(3 * time.Second)); now = now.Add(100 * time.Millisecond) {
			out, err := s.scan(context.Background(), now)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := findPID(out.findings, int(pid)); ok {
				return now.Sub(at)
			}
		}
		return -1
	}
	if d := appear(300, t0); d < 0 || d > 500*time.Millisecond {
		t.Errorf("pid 300, handed out before the first listing and visible after it: flagged after %v (-1: not within 3 s), want within 0.5 s", d)
	}
	if d := appear(310, t0.Add(sweepEvery)); d < 0 || d > 500*time.Millisecond {
		t.Errorf("pid 310, handed out before a sweep and visible after it: flagged after %v (-1: not within 3 s), want within 0.5 s", d)
	}
}
