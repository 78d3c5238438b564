package lockdown

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// The journal is a write-ahead record of every change lockdown makes to the
// operating system, so that the change is undone at finish, after a crash
// (the next start finds the journal and undoes what it lists) and by
// `invigil reset`. A change is recorded, and synced to disk, before it is
// made; undoing a change that was never made must therefore be harmless.
//
// The file is JSON lines: a header naming the owning process, then one
// "change" line per change and one "undone" line per change undone.

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

// ErrJournalInUse reports a journal whose owning process is still running:
// an exam is in progress, and resetting would undo its lockdown under it.
var ErrJournalInUse = errors.New("the lockdown journal belongs to a running invigil")

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

// Journal records changes; see OpenJournal.
type Journal struct {
	path    string
	undoers map[string]Undoer

	mu     sync.Mutex
	f      *os.File
	seq    int
	closed bool
}

// JournalOptions configure OpenJournal and Reset.
type JournalOptions struct {
	// Undoers add to or replace the built-in undoers, by kind.
	Undoers map[string]Undoer
	// Force resets a journal even if its owner still runs (Reset only).
	Force bool
}

func (o JournalOptions) undoers() map[string]Undoer {
	u := map[string]Undoer{"file.restore": undoFileRestore}
	registerOSUndoers(u)
	maps.Copy(u, o.Undoers)
	return u
}

// DefaultJournalPath is where the client keeps its journal:
// <user config dir>/invigil/lockdown-journal.jsonl.
func DefaultJournalPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("journal path: %w", err)
	}
	return filepath.Join(dir, "invigil", "lockdown-journal.jsonl"), nil
}

// OpenJournal starts a journal at path for this process. If a journal is
// already there from a run that crashed, its changes are undone first and
// the report says what was undone (crash recovery); if its owner is still
// running, OpenJournal fails with ErrJournalInUse.
func OpenJournal(ctx context.Context, path string, opts JournalOptions) (*Journal, ResetReport, error) {
	rep, err := Reset(ctx, path, JournalOptions{Undoers: opts.Undoers})
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
	_, create, _ := readIdentity(pid)
	j := &Journal{path: path, undoers: opts.undoers(), f: f}
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
	rep, err := reset(ctx, j.path, j.undoers)
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
// ErrJournalInUse while the journal's owner still runs, unless opts.Force.
// Changes that cannot be undone stay in the journal for another try.
func Reset(ctx context.Context, path string, opts JournalOptions) (ResetReport, error) {
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
		if _, create, err := readIdentity(hdr.PID); err == nil && create == hdr.CreateTime {
			rep.OwnerRunning = true
			if !opts.Force {
				return rep, fmt.Errorf("reset %s: %w (pid %d)", path, ErrJournalInUse, hdr.PID)
			}
		}
	}
	r, err := reset(ctx, path, opts.undoers())
	r.OwnerPID, r.OwnerRunning = rep.OwnerPID, rep.OwnerRunning
	return r, err
}

func reset(ctx context.Context, path string, undoers map[string]Undoer) (ResetReport, error) {
	rep := ResetReport{Path: path}
	_, pending, err := readJournal(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rep, nil
	}
	if err != nil {
		return rep, err
	}
	rep.Found = true
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
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return rep, fmt.Errorf("rewrite journal: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return rep, fmt.Errorf("rewrite journal: %w", err)
	}
	return rep, nil
}

// readJournal returns the header and the changes not yet undone, in order.
// A torn last line (a crash mid-write) is ignored; anything else malformed
// is an error, so that reset never guesses.
func readJournal(path string) (journalLine, []Change, error) {
	var hdr journalLine
	b, err := os.ReadFile(path)
	if err != nil {
		return hdr, nil, err
	}
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
			return hdr, nil, fmt.Errorf("journal %s line %d: %w", path, i+1, err)
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
			return hdr, nil, fmt.Errorf("journal %s line %d: unknown record %q", path, i+1, l.Type)
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
