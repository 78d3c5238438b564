package lockdown

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/invigil/invigil/lockdown/internal/procid"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/shirou/gopsutil/v4/process"
)

// procInfo is what the scanner knows of one process.
type procInfo struct {
	pid    int32
	name   string
	exe    string // "" when it could not be read (another user's process, a kernel thread)
	create int64  // Unix milliseconds; with pid it names the process
}

// fileKey identifies an executable's contents cheaply: a hash is reused
// while the key is the same.
type fileKey struct {
	path     string // set where dev and ino are not available
	dev, ino uint64
	size     int64
	mtime    int64
}

// youngFor is how long a newly seen process is re-read now and then (see
// rereadDue): it may have been seen between fork and exec, under its
// parent's name, or be a launcher script that execs the real program.
const youngFor = 2 * time.Second

// sweepEvery is how often every process is re-read, to catch a process that
// exec'd another program long after it started.
const sweepEvery = 10 * time.Second

// maxHashBytes bounds the executables the scanner hashes; bigger ones (an
// Electron app is ~200 MB) are matched by name only.
const maxHashBytes = 256 << 20

type compiledRule struct {
	id, program, action string
	names               []string
	sha256              []string
}

type procEntry struct {
	info    procInfo
	readAt  time.Time // last read
	seen    time.Time // first seen; zero for processes found by the first listing
	hash    string
	hashErr error
	finding *ProcessFinding
	allowed bool
}

// procScanner finds prohibited processes. It keeps what it learnt of every
// process between polls (keyed by pid and start time), so that a poll only
// lists pids and reads the new ones: gopsutil's Pids is ~0.1 ms for 70
// processes where Processes is ~2.5 ms.
type procScanner struct {
	rules    []compiledRule
	allowed  []compiledRule
	needHash bool
	self     int32
	known    map[int32]*procEntry
	hashes   map[fileKey]hashResult
	swept    time.Time
	gen      int64 // lastPID at the last listing or probe
	listed   bool
	retry    []retryPID // pids allocated but not yet visible
	src      procSource
}

// procSource is where the scanner reads processes from: the system
// (systemProcs), or a fake process table in tests.
type procSource struct {
	pids     func(context.Context) ([]int32, error)
	lastPID  func() (int64, bool)
	read     func(context.Context, int32) (procInfo, error)
	identity func(int32) (string, int64, error)
}

var systemProcs = procSource{pids: process.PidsWithContext, lastPID: lastPID, read: readProc, identity: readIdentity}

type hashResult struct {
	sum string
	err error
}

func newProcScanner(p *policy.Policy) *procScanner {
	s := &procScanner{
		self:   int32(os.Getpid()),
		known:  map[int32]*procEntry{},
		hashes: map[fileKey]hashResult{},
		src:    systemProcs,
	}
	for _, r := range p.Processes.Prohibited {
		s.rules = append(s.rules, compiledRule{id: r.ID, program: r.Name, action: string(r.Action), names: r.Names.For(runtime.GOOS), sha256: r.SHA256})
		s.needHash = s.needHash || len(r.SHA256) > 0
	}
	for _, r := range p.Processes.Allowed {
		s.allowed = append(s.allowed, compiledRule{program: r.Name, names: r.Names.For(runtime.GOOS), sha256: r.SHA256})
		s.needHash = s.needHash || len(r.SHA256) > 0
	}
	return s
}

// procScan is the outcome of one poll.
type procScan struct {
	// listed is true when this poll listed every process.
	listed    bool
	findings  []ProcessFinding
	total     int
	notHashed int // processes whose executable could not be read or hashed
	unread    int // processes that vanished or could not be read at all
}

// scan returns the offending processes. Listing /proc costs ~2 ms with a few
// hundred processes on the test VM, which at 10 polls a second would alone
// be 2 % of a core, so scan lists only on a sweep or when it cannot tell
// what is new. Otherwise it reads lastPID (one pread of /proc/loadavg on
// Linux): pids are handed out in increasing order, so the processes created
// since the last poll have pids in (last, now], and scan probes just those.
// Ids that were handed out but not yet visible, to a probe or to a listing,
// are probed again on the next polls. Then it re-reads only the flagged processes (have they
// exited?) and the young ones (have they exec'd?).
func (s *procScanner) scan(ctx context.Context, now time.Time) (procScan, error) {
	sweep := now.Sub(s.swept) >= sweepEvery
	gen, genOK := s.src.lastPID()
	var out procScan
	switch {
	case !sweep && genOK && s.listed && gen == s.gen && !s.retryDue(now):
		// No process was created.
	case !sweep && genOK && s.listed && gen >= s.gen && gen-s.gen <= maxProbe:
		retry := s.retry
		s.retry = nil
		for _, r := range retry {
			if now.Before(r.next) {
				s.retry = append(s.retry, r)
				continue
			}
			s.probe(ctx, r.pid, now, r.tries, &out)
		}
		for id := s.gen + 1; id <= gen; id++ {
			s.probe(ctx, int32(id), now, 0, &out)
		}
		s.gen = gen
	default:
		return s.list(ctx, now, sweep, gen, genOK)
	}
	for pid, e := range s.known {
		if e.finding != nil || e.due(now) {
			if e = s.visit(ctx, pid, e, now, true, &out); e == nil {
				continue
			}
		}
		s.collect(e, &out)
	}
	return out, nil
}

// maxProbe bounds the ids probed one by one; more new ids than this and a
// listing is cheaper.
const maxProbe = 256

// probe reads a newly allocated pid. The kernel allocates the id a moment
// before the process becomes visible in /proc (longer on a loaded machine),
// so an id that is not there yet is tried again at growing intervals, up to
// probeTries times over ~2 s; an id that stays missing was a short-lived
// process or thread. tries counts the earlier attempts.
func (s *procScanner) probe(ctx context.Context, pid int32, now time.Time, tries int, out *procScan) {
	if pid == s.self || pid <= 0 || s.known[pid] != nil {
		return
	}
	info, err := s.src.read(ctx, pid)
	if err != nil {
		if tries < probeTries && errors.Is(err, fs.ErrNotExist) {
			s.retry = append(s.retry, retryPID{pid: pid, tries: tries + 1, next: now.Add(probeBackoff << tries)})
		}
		return
	}
	s.add(info, now, nil)
}

// retryPID is an allocated pid not yet seen in /proc.
type retryPID struct {
	pid   int32
	tries int
	next  time.Time
}

const (
	probeTries   = 4
	probeBackoff = 100 * time.Millisecond
)

func (s *procScanner) retryDue(now time.Time) bool {
	for _, r := range s.retry {
		if !now.Before(r.next) {
			return true
		}
	}
	return false
}

// listRecent is how many of the last ids handed out before the first
// listing it probes again when it did not see them (see list).
const listRecent = 16

// list lists every process. gen is lastPID, read before the listing, when
// genOK. An id handed out before the listing may not be in /proc yet (see
// probe), so the ids the listing did not see among those handed out since
// the last poll (the last listRecent on the first listing, or after more
// than maxProbe) are probed again on the next polls, as are the ids still
// due a retry; without that a process created as the exam starts, or as a
// sweep runs, would wait for the next sweep.
func (s *procScanner) list(ctx context.Context, now time.Time, sweep bool, gen int64, genOK bool) (procScan, error) {
	pids, err := s.src.pids(ctx)
	if err != nil {
		return procScan{}, fmt.Errorf("list processes: %w", err)
	}
	if sweep {
		s.swept = now
	}
	from := s.gen // the ids above from were handed out since the last poll
	retry := s.retry
	if !s.listed || gen < s.gen || gen-s.gen > maxProbe {
		from, retry = gen-listRecent, nil
	}
	s.gen, s.retry = gen, nil
	seen := make(map[int32]bool, len(pids))
	out := procScan{listed: true}
	for _, pid := range pids {
		if pid == s.self || pid == 0 {
			continue
		}
		seen[pid] = true
		e := s.known[pid]
		reread := e == nil || sweep || e.due(now)
		if e = s.visit(ctx, pid, e, now, reread, &out); e != nil {
			s.collect(e, &out)
		}
	}
	for pid := range s.known {
		if !seen[pid] {
			delete(s.known, pid)
		}
	}
	if genOK {
		for _, r := range retry {
			if !seen[r.pid] {
				s.retry = append(s.retry, r)
			}
		}
		for id := max(from, 0) + 1; id <= gen; id++ {
			if pid := int32(id); !seen[pid] && pid != s.self {
				s.retry = append(s.retry, retryPID{pid: pid, tries: 1, next: now.Add(probeBackoff)})
			}
		}
	}
	s.listed = true
	return out, nil
}

// visit brings the entry of pid up to date and returns it, or nil when the
// process is gone. A known process is re-read (reread) cheaply first: has
// it exec'd, or is this a new process under a reused pid?
func (s *procScanner) visit(ctx context.Context, pid int32, e *procEntry, now time.Time, reread bool, out *procScan) *procEntry {
	if e != nil && !reread {
		return e
	}
	if e != nil {
		name, create, err := s.src.identity(pid)
		if err != nil {
			delete(s.known, pid)
			return nil
		}
		if name == e.info.name && create == e.info.create {
			e.readAt = now
			return e
		}
	}
	info, err := s.src.read(ctx, pid)
	if err != nil {
		delete(s.known, pid)
		out.unread++
		return nil
	}
	return s.add(info, now, e)
}

// add inspects a process just read and remembers it; prev is what was known
// under its pid before.
func (s *procScanner) add(info procInfo, now time.Time, prev *procEntry) *procEntry {
	e := prev
	seen := now
	switch {
	case !s.listed && !startedNear(info.create, now):
		seen = time.Time{} // the first listing: already running
	case e != nil && e.info.create == info.create:
		seen = e.seen // the same process, after an exec
	}
	e = &procEntry{info: info, readAt: now, seen: seen}
	s.inspect(e)
	s.known[info.pid] = e
	return e
}

// startedNear reports whether a process found by the first listing started
// within firstListingNew of it, before or after: it may have been caught
// between fork and exec, under its parent's name, or be a launcher about to
// exec the real program, so it counts as new (young) like a process that
// started after the first listing. The window is wide because start times
// on Linux derive from the boot time in whole seconds, which was ~1 s off
// the wall clock on the test VM; everything older stays unread until the
// sweep, as re-reading every process (a full gopsutil read each on Windows
// and macOS) would cost far more.
func startedNear(create int64, now time.Time) bool {
	d := time.Duration(now.UnixMilli()-create) * time.Millisecond
	return d.Abs() < firstListingNew
}

// firstListingNew: see startedNear.
const firstListingNew = 3 * time.Second

// young reports whether the scanner first saw the process less than
// youngFor ago. It goes by when the scanner saw it, not by its start time
// (see startedNear for why). Processes found by the first listing are not
// young unless they started just before it (startedNear).
func (e *procEntry) young(now time.Time) bool {
	return !e.seen.IsZero() && now.Sub(e.seen) < youngFor
}

// due reports whether a young process should be re-read now (rereadDue).
func (e *procEntry) due(now time.Time) bool {
	return e.young(now) && rereadDue(e.seen, e.readAt, now)
}

// rereadDue reports whether a process first seen at seen and last read at
// readAt should be re-read at now: at ages of roughly 0.1, 0.2, 0.4, 0.8
// and 1.6 s with 100 ms polls (0.15, 0.3, 0.6, 1.2 s with the default
// 150 ms), not on every poll, since under process churn (a build, a test
// run) dozens are young at any time. Each read doubles the wait: the next
// one comes once the process has aged as much again as it had at the last
// read, less a tenth so that a poll a little early (ticker jitter) does
// not put the read off by a whole poll. The first re-read (readAt == seen)
// comes at the first poll 90 ms or more on. Whether the process is still
// young is the caller's business.
func rereadDue(seen, readAt, now time.Time) bool {
	return now.Sub(readAt) >= max(90*time.Millisecond, readAt.Sub(seen)*9/10)
}

// snapshot returns what the scanner knows of every process.
func (s *procScanner) snapshot() []procInfo {
	out := make([]procInfo, 0, len(s.known))
	for _, e := range s.known {
		out = append(out, e.info)
	}
	return out
}

func (s *procScanner) collect(e *procEntry, out *procScan) {
	out.total++
	if s.needHash && e.hash == "" {
		out.notHashed++
	}
	if e.finding != nil {
		out.findings = append(out.findings, *e.finding)
	}
}

// inspect matches one process against the rules.
func (s *procScanner) inspect(e *procEntry) {
	names := []string{e.info.name}
	if e.info.exe != "" {
		if b := filepath.Base(e.info.exe); b != e.info.name {
			names = append(names, b)
		}
	}
	if s.needHash && e.info.exe != "" {
		e.hash, e.hashErr = s.hashExe(e.info)
	}
	if m, _ := matchRules(s.allowed, names, e.hash); m != nil {
		e.allowed = true
		return
	}
	m, reason := matchRules(s.rules, names, e.hash)
	if m == nil {
		return
	}
	e.finding = &ProcessFinding{
		PID:        e.info.pid,
		CreateTime: e.info.create,
		Name:       e.info.name,
		Exe:        e.info.exe,
		RuleID:     m.id,
		Program:    m.program,
		Reason:     reason,
		Action:     m.action,
	}
}

func matchRules(rules []compiledRule, names []string, hash string) (*compiledRule, string) {
	for i := range rules {
		r := &rules[i]
		for _, pat := range r.names {
			for _, n := range names {
				if policy.MatchName(pat, n) {
					return r, "name"
				}
			}
		}
		if hash != "" && slices.Contains(r.sha256, hash) {
			return r, "sha256"
		}
	}
	return nil, ""
}

// hashExe returns the SHA-256 of the process's executable, from the cache
// when the file is unchanged.
func (s *procScanner) hashExe(info procInfo) (string, error) {
	f, err := openExe(info)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	key := keyOf(info.exe, fi)
	if h, ok := s.hashes[key]; ok {
		return h.sum, h.err
	}
	var r hashResult
	if fi.Size() > maxHashBytes {
		r.err = fmt.Errorf("%s is %d MB, too big to hash", info.exe, fi.Size()>>20)
	} else {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			r.err = err
		} else {
			r.sum = hex.EncodeToString(h.Sum(nil))
		}
	}
	if len(s.hashes) > 4096 {
		clear(s.hashes)
	}
	s.hashes[key] = r
	return r.sum, r.err
}

// readProcGeneric reads a process through gopsutil: the implementation on
// systems without a faster one.
func readProcGeneric(ctx context.Context, pid int32) (procInfo, error) {
	p, err := process.NewProcessWithContext(ctx, pid)
	if err != nil {
		return procInfo{}, err
	}
	if st, err := p.StatusWithContext(ctx); err == nil && slices.Contains(st, process.Zombie) {
		return procInfo{}, errGone
	}
	name, err := p.NameWithContext(ctx)
	if err != nil {
		return procInfo{}, err
	}
	create, err := p.CreateTimeWithContext(ctx)
	if err != nil {
		return procInfo{}, err
	}
	exe, _ := p.ExeWithContext(ctx)
	return procInfo{pid: pid, name: name, exe: exe, create: create}, nil
}

// describe names a finding for a person: "AnyDesk (pid 4242)".
func (f ProcessFinding) describe() string {
	name := f.Program
	if name == "" {
		name = f.Name
	}
	if f.PID <= 0 {
		return name + " (process not visible)"
	}
	if f.Name != "" && !strings.EqualFold(f.Name, name) && f.Reason != "name" {
		return fmt.Sprintf("%s (%s, pid %d)", name, f.Name, f.PID)
	}
	return fmt.Sprintf("%s (pid %d)", name, f.PID)
}

var (
	errGone   = procid.ErrGone
	errThread = procid.ErrThread
)
