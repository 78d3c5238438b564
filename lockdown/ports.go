package lockdown

import (
	"context"
	"fmt"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// listener is a TCP socket in LISTEN state.
type listener struct {
	port  int
	addr  string
	inode uint64 // Linux socket inode; 0 elsewhere
	pid   int32  // 0 when not known
}

// portScanner finds processes listening on remote-access ports.
type portScanner struct {
	rules []policy.PortRule
	self  int32
	owner map[uint64]ownerEntry // Linux: socket inode → pid
}

type ownerEntry struct {
	pid     int32
	checked time.Time
}

// ownerRetry is how often a listener whose owner could not be found (another
// user's process) is looked up again: the lookup walks every open file.
const ownerRetry = 5 * time.Second

func newPortScanner(p *policy.Policy, self int32) *portScanner {
	return &portScanner{rules: p.RemotePorts, self: self, owner: map[uint64]ownerEntry{}}
}

func (s *portScanner) ruleFor(port int) (policy.PortRule, bool) {
	for _, r := range s.rules {
		if r.Contains(port) {
			return r, true
		}
	}
	return policy.PortRule{}, false
}

// scan returns a finding for every listener on a remote-access port. names
// resolves a pid to what the process scanner knows of it.
func (s *portScanner) scan(ctx context.Context, now time.Time, names func(int32) *procEntry) ([]ProcessFinding, error) {
	if len(s.rules) == 0 {
		return nil, nil
	}
	ls, err := listeners(ctx)
	if err != nil {
		return nil, fmt.Errorf("list listening sockets: %w", err)
	}
	var hits []listener
	for _, l := range ls {
		if _, ok := s.ruleFor(l.port); ok {
			hits = append(hits, l)
		}
	}
	if len(hits) == 0 {
		return nil, nil
	}
	s.resolve(ctx, now, hits)
	var out []ProcessFinding
	seen := map[string]bool{}
	for _, l := range hits {
		if l.pid == 0 && l.inode != 0 {
			l.pid = s.owner[l.inode].pid
		}
		if l.pid == s.self {
			continue
		}
		key := fmt.Sprintf("%d/%d", l.pid, l.port)
		if seen[key] {
			continue // the same socket on v4 and v6
		}
		seen[key] = true
		r, _ := s.ruleFor(l.port)
		f := ProcessFinding{PID: l.pid, Program: r.Name, Reason: "port", Port: l.port, Address: l.addr, Action: string(r.Action)}
		if l.pid > 0 {
			if e := names(l.pid); e != nil {
				if e.allowed {
					continue
				}
				f.Name, f.Exe, f.CreateTime = e.info.name, e.info.exe, e.info.create
			} else if info, err := readProc(ctx, l.pid); err == nil {
				f.Name, f.Exe, f.CreateTime = info.name, info.exe, info.create
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// resolve finds the owners of listeners that have an inode but no pid.
func (s *portScanner) resolve(ctx context.Context, now time.Time, hits []listener) {
	want := map[uint64]bool{}
	live := map[uint64]bool{}
	for _, l := range hits {
		if l.inode == 0 || l.pid != 0 {
			continue
		}
		live[l.inode] = true
		if e, ok := s.owner[l.inode]; ok && (e.pid != 0 || now.Sub(e.checked) < ownerRetry) {
			continue
		}
		want[l.inode] = true
	}
	for ino := range s.owner {
		if !live[ino] {
			delete(s.owner, ino)
		}
	}
	if len(want) == 0 {
		return
	}
	found := socketOwners(ctx, want)
	for ino := range want {
		s.owner[ino] = ownerEntry{pid: found[ino], checked: now}
	}
}
