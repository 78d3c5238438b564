package journal

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/invigil/invigil/lockdown/internal/procid"
)

// Change is one change to the operating system.
type Change struct {
	Seq  int       `json:"seq"`
	Time time.Time `json:"time"`
	// Kind names the undoer: "file.restore", "registry.dword" (Windows),
	// or a kind with nothing to undo ("process.close", "clipboard.clear").
	Kind string `json:"kind"`
	// Summary says what was done, for `invigil reset`'s report.
	Summary string `json:"summary"`
	// Undo is the undoer's input; absent when there is nothing to undo.
	Undo json.RawMessage `json:"undo,omitempty"`
}

// Undoer reverts one kind of change, given the change's Undo data. It must
// be idempotent: the change may not have been made, or already undone.
type Undoer func(ctx context.Context, undo json.RawMessage) error

// UndoResult is what became of one change when it was undone.
type UndoResult struct {
	Change Change `json:"change"`
	// Outcome is "undone", "nothing to undo" or "failed".
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// ErrInUse reports a journal whose owning process is still running:
// an exam is in progress, and resetting would undo its lockdown under it.
var ErrInUse = errors.New("the lockdown journal belongs to a running invigil")

type journalLine struct {
	Type string `json:"type"` // "header", "change", "undone"
	// header
	Version    int       `json:"version,omitempty"`
	PID        int32     `json:"pid,omitempty"`
	CreateTime int64     `json:"create_time,omitempty"`
	Started    time.Time `json:"started,omitzero"`
	// change
	Change *Change `json:"change,omitempty"`
	// undone
	Seq     int    `json:"seq,omitempty"`
	Outcome string `json:"outcome,omitempty"`
}

// Journal records changes; see Open.
type Journal struct {
	path    string
	undoers map[string]Undoer
	roots   []string // where file.restore may write

	mu     sync.Mutex
	f      *os.File
	seq    int
	closed bool
}

// Options configure Open and Reset.
type Options struct {
	// Undoers add to or replace the built-in undoers, by kind.
	Undoers map[string]Undoer
	// Force resets a journal even if its owner still runs (Reset only).
	Force bool
	// FileRoots are the directories whose files ReplaceFile may change and
	// a journal's file.restore may write or remove (default: the user's
	// home, configuration and cache directories). A journal naming a file
	// elsewhere is refused whole.
	FileRoots []string
}

// fileRoots are o.FileRoots or the defaults.
func (o Options) fileRoots() []string {
	if len(o.FileRoots) > 0 {
		return o.FileRoots
	}
	var roots []string
	for _, f := range []func() (string, error){os.UserHomeDir, os.UserConfigDir, os.UserCacheDir} {
		if d, err := f(); err == nil && filepath.IsAbs(d) {
			roots = append(roots, d)
		}
	}
	return roots
}

// ErrRefused reports a journal reset will not act on: one it did not
// write (another user's, or one others may change) or one that asks for a
// change lockdown never makes. Nothing in it is undone.
var ErrRefused = errors.New("lockdown journal refused")

// Bounds of what a journal may hold.
const (
	maxJournalBytes = 64 << 20
	maxRestoreBytes = 4 << 20 // one file.restore's old content
)

func (o Options) undoers() map[string]Undoer {
	u := map[string]Undoer{"file.restore": undoFileRestore}
	registerOSUndoers(u)
	maps.Copy(u, o.Undoers)
	return u
}

// DefaultPath is where the client keeps its journal:
// <user config dir>/invigil/lockdown-journal.jsonl.
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("journal path: %w", err)
	}
	return filepath.Join(dir, "invigil", "lockdown-journal.jsonl"), nil
}

// Open starts a journal at path for this process. If a journal is
// already there from a run that crashed, its changes are undone first and
// the report says what was undone (crash recovery); if its owner is still
// running, Open fails with ErrInUse.
func Open(ctx context.Context, path string, opts Options) (*Journal, ResetReport, error) {
	rep, err := Reset(ctx, path, Options{Undoers: opts.Undoers, FileRoots: opts.FileRoots})
	if err != nil {
		return nil, rep, err
	}
	if rep.Remaining > 0 {
		return nil, rep, fmt.Errorf("open journal: %d earlier changes could not be undone; run 'invigil reset'", rep.Remaining)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, rep, fmt.Errorf("open journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, rep, fmt.Errorf("open journal: %w", err)
	}
	pid := int32(os.Getpid())
	_, create, _ := procid.Identity(pid)
	j := &Journal{path: path, undoers: opts.undoers(), roots: opts.fileRoots(), f: f}
	if err := j.write(journalLine{Type: "header", Version: 1, PID: pid, CreateTime: create, Started: time.Now().UTC()}); err != nil {
		f.Close()
		os.Remove(path)
		return nil, rep, err
	}
	return j, rep, nil
}

// Path returns the journal's file name.
func (j *Journal) Path() string { return j.path }

func (j *Journal) write(l journalLine) error {
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Record writes a change to disk before the caller makes it. undo is the
// kind's undoer input (marshalled to JSON), or nil for a change with nothing
// to undo. A kind with undo data must have an undoer.
func (j *Journal) Record(kind, summary string, undo any) (Change, error) {
	c := Change{Time: time.Now().UTC(), Kind: kind, Summary: summary}
	if undo != nil {
		if _, ok := j.undoers[kind]; !ok {
			return c, fmt.Errorf("journal: no undoer for %q", kind)
		}
		b, err := json.Marshal(undo)
		if err != nil {
			return c, fmt.Errorf("journal: %w", err)
		}
		c.Undo = b
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return c, errors.New("journal: closed")
	}
	j.seq++
	c.Seq = j.seq
	return c, j.write(journalLine{Type: "change", Change: &c})
}

// ReplaceFile writes content to path (mode perm), after recording how to
// put back what was there: the old content, or nothing if there was no
// file. It is the building block for configuration changes.
func (j *Journal) ReplaceFile(path string, content []byte, perm fs.FileMode) error {
	if err := checkRestorePath(path, j.roots); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	u := fileRestore{Path: path}
	switch old, err := os.ReadFile(path); {
	case err == nil:
		s := base64.StdEncoding.EncodeToString(old)
		u.Content = &s
		if fi, err := os.Stat(path); err == nil {
			u.Mode = uint32(fi.Mode().Perm())
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if _, err := j.Record("file.restore", "replaced "+path, u); err != nil {
		return err
	}
	if err := os.WriteFile(path, content, perm); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}

// Close undoes every change, newest first, and removes the journal. If a
// change cannot be undone the journal stays for `invigil reset`, and Close
// returns an error. Close is idempotent.
func (j *Journal) Close(ctx context.Context) ([]UndoResult, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil, nil
	}
	j.closed = true
	j.f.Close()
	rep, err := reset(ctx, j.path, j.undoers, j.roots)
	if err != nil {
		return rep.Results, err
	}
	if rep.Remaining > 0 {
		return rep.Results, fmt.Errorf("journal: %d changes could not be undone; run 'invigil reset'", rep.Remaining)
	}
	return rep.Results, nil
}

// ResetReport is what Reset found and did.
type ResetReport struct {
	Path string `json:"path"`
	// Found is false when there was no journal: nothing to do.
	Found bool `json:"found"`
	// OwnerPID is the process that wrote the journal.
	OwnerPID int32 `json:"owner_pid,omitempty"`
	// OwnerRunning is true when that process still runs.
	OwnerRunning bool         `json:"owner_running,omitempty"`
	Results      []UndoResult `json:"results,omitempty"`
	// Remaining counts the changes still not undone (failed).
	Remaining int `json:"remaining"`
}

// Reset undoes every change in the journal at path and removes it. It is
// safe at any time: with no journal it does nothing, and it refuses with
// ErrInUse while the journal's owner still runs, unless opts.Force.
// Changes that cannot be undone stay in the journal for another try.
//
// A journal is a list of things to write and delete, so Reset acts only on
// one this user's lockdown could have written: it refuses (ErrRefused,
// undoing nothing) a journal that is a symbolic link, belongs to another
// user or that others may write, and one with a file.restore outside
// opts.FileRoots, through a symbolic link or over 4 MiB. Kinds without an
// undoer are never acted on (they stay, "failed").
func Reset(ctx context.Context, path string, opts Options) (ResetReport, error) {
	rep := ResetReport{Path: path}
	hdr, _, err := readJournal(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rep, nil
	}
	if err != nil {
		return rep, err
	}
	rep.Found, rep.OwnerPID = true, hdr.PID
	if hdr.PID > 0 {
		if _, create, err := procid.Identity(hdr.PID); err == nil && create == hdr.CreateTime {
			rep.OwnerRunning = true
			if !opts.Force {
				return rep, fmt.Errorf("reset %s: %w (pid %d)", path, ErrInUse, hdr.PID)
			}
		}
	}
	r, err := reset(ctx, path, opts.undoers(), opts.fileRoots())
	r.OwnerPID, r.OwnerRunning = rep.OwnerPID, rep.OwnerRunning
	return r, err
}

func reset(ctx context.Context, path string, undoers map[string]Undoer, roots []string) (ResetReport, error) {
	rep := ResetReport{Path: path}
	_, pending, err := readJournal(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rep, nil
	}
	if err != nil {
		return rep, err
	}
	rep.Found = true
	// Check every change before undoing any: a crafted journal does
	// nothing at all.
	for _, c := range pending {
		if err := checkChange(c, roots); err != nil {
			return rep, fmt.Errorf("reset %s: %w: change %d (%s): %v", path, ErrRefused, c.Seq, c.Kind, err)
		}
	}
	var failed []Change
	for _, c := range slices.Backward(pending) {
		res := UndoResult{Change: c, Outcome: "nothing to undo"}
		if len(c.Undo) > 0 {
			u, ok := undoers[c.Kind]
			switch {
			case !ok:
				res.Outcome, res.Error = "failed", fmt.Sprintf("no undoer for %q (written by another version?)", c.Kind)
			default:
				if err := u(ctx, c.Undo); err != nil {
					res.Outcome, res.Error = "failed", err.Error()
				} else {
					res.Outcome = "undone"
				}
			}
		}
		if res.Outcome == "failed" {
			failed = append(failed, c)
		}
		rep.Results = append(rep.Results, res)
	}
	rep.Remaining = len(failed)
	if len(failed) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rep, fmt.Errorf("remove journal: %w", err)
		}
		return rep, nil
	}
	// Keep what failed, in a journal that no process owns.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.Encode(journalLine{Type: "header", Version: 1, Started: time.Now().UTC()})
	for _, c := range slices.Backward(failed) {
		enc.Encode(journalLine{Type: "change", Change: &c})
	}
	tmp := path + ".tmp"
	if err := writeNew(tmp, buf.Bytes()); err != nil {
		return rep, fmt.Errorf("rewrite journal: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return rep, fmt.Errorf("rewrite journal: %w", err)
	}
	return rep, nil
}

// Pending returns the changes of the journal at path not yet undone, in
// order: what Reset would undo. It refuses a journal Reset would refuse.
func Pending(path string) ([]Change, error) {
	_, pending, err := readJournal(path)
	return pending, err
}

// readJournal returns the header and the changes not yet undone, in order.
// A torn last line (a crash mid-write) is ignored; anything else malformed
// is an error, so that reset never guesses.
func readJournal(path string) (journalLine, []Change, error) {
	b, err := readJournalFile(path)
	if err != nil {
		return journalLine{}, nil, err
	}
	hdr, pending, err := parseJournal(b)
	if err != nil {
		return hdr, nil, fmt.Errorf("journal %s %w", path, err)
	}
	return hdr, pending, nil
}

// readJournalFile reads the journal at path if this user's lockdown could
// have written it: a regular file (not a link), this user's, that no one
// else may write, of at most maxJournalBytes.
func readJournalFile(path string) ([]byte, error) {
	lst, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !lst.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file (a link?)", ErrRefused, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !os.SameFile(lst, st) {
		return nil, fmt.Errorf("%w: %s changed while it was opened", ErrRefused, path)
	}
	if err := checkJournalOwner(f, st); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrRefused, path, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxJournalBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJournalBytes {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrRefused, path, maxJournalBytes)
	}
	return b, nil
}

// parseJournal parses a journal's bytes; errors name the line ("line 3:
// ...").
func parseJournal(b []byte) (journalLine, []Change, error) {
	var hdr journalLine
	var changes []Change
	undone := map[int]bool{}
	lines := bytes.Split(b, []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var l journalLine
		if err := json.Unmarshal(line, &l); err != nil {
			if i == len(lines)-1 {
				break // a torn last line: the crash came mid-write
			}
			return hdr, nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		switch l.Type {
		case "header":
			hdr = l
		case "change":
			if l.Change != nil {
				changes = append(changes, *l.Change)
			}
		case "undone":
			undone[l.Seq] = true
		default:
			return hdr, nil, fmt.Errorf("line %d: unknown record %q", i+1, l.Type)
		}
	}
	pending := changes[:0]
	for _, c := range changes {
		if !undone[c.Seq] {
			pending = append(pending, c)
		}
	}
	return hdr, pending, nil
}

// fileRestore is the undo data of "file.restore".
type fileRestore struct {
	Path string `json:"path"`
	// Content is the old content in base64; nil: there was no file.
	Content *string `json:"content"`
	Mode    uint32  `json:"mode,omitempty"`
}

// checkChange refuses a change lockdown would never record.
func checkChange(c Change, roots []string) error {
	if c.Kind != "file.restore" || len(c.Undo) == 0 {
		// Other kinds act only through their registered undoer, on what
		// that undoer owns (a registry value under HKCU); kinds without
		// one are never acted on.
		return nil
	}
	var u fileRestore
	if err := json.Unmarshal(c.Undo, &u); err != nil {
		return err
	}
	if u.Content != nil && base64.StdEncoding.DecodedLen(len(*u.Content)) > maxRestoreBytes {
		return fmt.Errorf("old content over %d bytes", maxRestoreBytes)
	}
	if u.Mode&^0o777 != 0 {
		return fmt.Errorf("mode %o is not a permission", u.Mode)
	}
	return checkRestorePath(u.Path, roots)
}

// checkRestorePath accepts an absolute, clean path inside one of roots,
// reached without symbolic links, that is a regular file or absent.
func checkRestorePath(path string, roots []string) error {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return fmt.Errorf("%q is not a clean absolute path", path)
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if st, err := os.Lstat(path); err == nil && !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	for _, r := range roots {
		rr, err := filepath.EvalSymlinks(r)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(rr, dir); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel) {
			// The resolved directory is inside the resolved root; the
			// name itself must not climb out either.
			if base := filepath.Base(path); base != ".." && base != "." {
				return nil
			}
		}
	}
	return fmt.Errorf("%s is outside the places lockdown changes files (%s)", path, strings.Join(roots, ", "))
}

// writeNew writes a new file with mode 0600, removing what was at path
// first: never through a link someone left there.
func writeNew(path string, b []byte) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func undoFileRestore(_ context.Context, raw json.RawMessage) error {
	var u fileRestore
	if err := json.Unmarshal(raw, &u); err != nil {
		return fmt.Errorf("file.restore: %w", err)
	}
	if u.Content == nil {
		if err := os.Remove(u.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("file.restore: %w", err)
		}
		return nil
	}
	old, err := base64.StdEncoding.DecodeString(*u.Content)
	if err != nil {
		return fmt.Errorf("file.restore: %w", err)
	}
	mode := fs.FileMode(u.Mode)
	if mode == 0 {
		mode = 0o644
	}
	if err := os.WriteFile(u.Path, old, mode); err != nil {
		return fmt.Errorf("file.restore: %w", err)
	}
	return nil
}
