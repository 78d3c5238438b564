package journal

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/lockdown/internal/procid"
)

// deadOwner returns the pid and start time of a process that has exited,
// to forge the journal of a crashed client.
func deadOwner(t *testing.T) (int32, int64) {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := int32(cmd.Process.Pid)
	_, create, _ := procid.Identity(pid)
	cmd.Wait()
	return pid, create
}

func writeJournal(t *testing.T, path string, lines ...journalLine) {
	t.Helper()
	var b []byte
	for _, l := range lines {
		j, _ := json.Marshal(l)
		b = append(append(b, j...), '\n')
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestJournalFinishUndoes(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "settings.conf")
	os.WriteFile(cfg, []byte("original"), 0o640)
	created := filepath.Join(dir, "kiosk.lock")
	path := filepath.Join(dir, "journal.jsonl")

	j, rep, err := Open(context.Background(), path, Options{FileRoots: []string{dir}})
	if err != nil || rep.Found {
		t.Fatalf("Open: %+v, %v", rep, err)
	}
	if err := j.ReplaceFile(cfg, []byte("locked"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := j.ReplaceFile(created, []byte("1"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Record("clipboard.clear", "cleared the clipboard", nil); err != nil {
		t.Fatal(err)
	}
	// While the exam runs, reset refuses (the owner is this process)...
	if _, err := Reset(context.Background(), path, Options{}); !errors.Is(err, ErrInUse) {
		t.Errorf("Reset with a live owner: %v, want ErrInUse", err)
	}
	// ...and so does a second client.
	if _, _, err := Open(context.Background(), path, Options{}); !errors.Is(err, ErrInUse) {
		t.Errorf("second Open: %v, want ErrInUse", err)
	}
	res, err := j.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	outcomes := []string{}
	for _, r := range res {
		outcomes = append(outcomes, r.Change.Kind+":"+r.Outcome)
	}
	if got, want := strings.Join(outcomes, " "), "clipboard.clear:nothing to undo file.restore:undone file.restore:undone"; got != want {
		t.Errorf("undo order/outcomes: got %s, want %s", got, want)
	}
	if b, _ := os.ReadFile(cfg); string(b) != "original" {
		t.Errorf("settings not restored: %q", b)
	}
	if fi, err := os.Stat(cfg); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("settings mode: %v %v", fi.Mode(), err)
	}
	if _, err := os.Stat(created); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("created file not removed: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal not removed: %v", err)
	}
	if res, err := j.Close(context.Background()); res != nil || err != nil {
		t.Errorf("second Close: %v %v", res, err)
	}
}

// A crashed client leaves its journal; the next start undoes it, and so
// does `invigil reset`.
func TestJournalCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal.jsonl")
	cfg := filepath.Join(dir, "settings.conf")
	os.WriteFile(cfg, []byte("locked"), 0o644)
	pid, create := deadOwner(t)
	orig := "b3JpZ2luYWw=" // "original"
	undo, _ := json.Marshal(fileRestore{Path: cfg, Content: &orig, Mode: 0o644})
	writeJournal(t, path,
		journalLine{Type: "header", Version: 1, PID: pid, CreateTime: create, Started: time.Now()},
		journalLine{Type: "change", Change: &Change{Seq: 1, Kind: "file.restore", Summary: "replaced " + cfg, Undo: undo}},
		journalLine{Type: "change", Change: &Change{Seq: 2, Kind: "process.close", Summary: "close AnyDesk (pid 4242)"}},
	)
	// A torn last line, as a crash mid-write leaves.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"type":"change","change":{"seq":3,"ki`)
	f.Close()

	j, rep, err := Open(context.Background(), path, Options{FileRoots: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close(context.Background())
	if !rep.Found || rep.OwnerPID != pid || rep.OwnerRunning || len(rep.Results) != 2 || rep.Results[1].Outcome != "undone" {
		t.Errorf("recovery report %+v", rep)
	}
	if b, _ := os.ReadFile(cfg); string(b) != "original" {
		t.Errorf("not restored after crash: %q", b)
	}
}

func TestResetNothingAndFailures(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal.jsonl")
	rep, err := Reset(context.Background(), path, Options{})
	if err != nil || rep.Found {
		t.Errorf("no journal: %+v %v", rep, err)
	}
	// A change this build cannot undo stays for the next reset.
	pid, create := deadOwner(t)
	writeJournal(t, path,
		journalLine{Type: "header", Version: 1, PID: pid, CreateTime: create},
		journalLine{Type: "change", Change: &Change{Seq: 1, Kind: "kiosk.future", Summary: "set something", Undo: json.RawMessage(`{"x":1}`)}},
	)
	rep, err = Reset(context.Background(), path, Options{})
	if err != nil || rep.Remaining != 1 || rep.Results[0].Outcome != "failed" {
		t.Fatalf("unknown kind: %+v %v", rep, err)
	}
	// With an undoer for it (a newer build), the next reset succeeds.
	var got string
	undo := func(_ context.Context, raw json.RawMessage) error { got = string(raw); return nil }
	rep, err = Reset(context.Background(), path, Options{Undoers: map[string]Undoer{"kiosk.future": undo}})
	if err != nil || rep.Remaining != 0 || got != `{"x":1}` {
		t.Errorf("second reset: %+v %v (undo got %q)", rep, err, got)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal left: %v", err)
	}
	// A corrupt journal is an error, not a guess.
	os.WriteFile(path, []byte("garbage\n{}\n"), 0o600)
	if _, err := Reset(context.Background(), path, Options{}); err == nil {
		t.Error("corrupt journal reset without error")
	}
	// Force resets under a live owner.
	self := int32(os.Getpid())
	_, selfCreate, _ := procid.Identity(self)
	writeJournal(t, path, journalLine{Type: "header", Version: 1, PID: self, CreateTime: selfCreate})
	if rep, err := Reset(context.Background(), path, Options{Force: true}); err != nil || !rep.OwnerRunning {
		t.Errorf("forced reset: %+v %v", rep, err)
	}
}

// A crafted journal must not make reset write or delete files lockdown
// never changes, nor may reset act on a journal someone else can write.
func TestResetRefusesCraftedJournal(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o700)
	victim := filepath.Join(dir, "victim.txt") // outside the roots
	os.WriteFile(victim, []byte("precious"), 0o600)
	inside := filepath.Join(home, "settings.conf")
	os.WriteFile(inside, []byte("locked"), 0o600)
	link := filepath.Join(home, "link.conf")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	os.Symlink(dir, filepath.Join(home, "up"))
	opts := Options{FileRoots: []string{home}}
	pid, create := deadOwner(t)
	restore := func(path string, content *string) journalLine {
		undo, _ := json.Marshal(fileRestore{Path: path, Content: content, Mode: 0o644})
		return journalLine{Type: "change", Change: &Change{Seq: 2, Kind: "file.restore", Summary: "replaced " + path, Undo: undo}}
	}
	evil := base64.StdEncoding.EncodeToString([]byte("pwned"))
	big := strings.Repeat("A", maxRestoreBytes*4/3+8)
	tests := []struct {
		name string
		line journalLine
	}{
		{"delete outside", restore(victim, nil)},
		{"write outside", restore(victim, &evil)},
		{"dot-dot", restore(home+"/../victim.txt", &evil)},
		{"relative", restore("victim.txt", &evil)},
		{"through a file link", restore(link, &evil)},
		{"through a directory link", restore(filepath.Join(home, "up", "victim.txt"), &evil)},
		{"huge content", restore(filepath.Join(home, "new.conf"), &big)},
	}
	path := filepath.Join(dir, "journal.jsonl")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A harmless change first: nothing at all may be undone.
			good, _ := json.Marshal(fileRestore{Path: inside, Content: &evil})
			writeJournal(t, path,
				journalLine{Type: "header", Version: 1, PID: pid, CreateTime: create},
				journalLine{Type: "change", Change: &Change{Seq: 1, Kind: "file.restore", Summary: "ok", Undo: good}},
				tt.line)
			_, err := Reset(context.Background(), path, opts)
			if !errors.Is(err, ErrRefused) {
				t.Errorf("Reset: %v, want ErrRefused", err)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
				t.Errorf("victim file: %q %v", b, err)
			}
			if b, _ := os.ReadFile(inside); string(b) != "locked" {
				t.Errorf("a change of a refused journal was undone: %q", b)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("refused journal removed: %v", err)
			}
		})
	}

	// The journal itself: others may write it, or it is a link.
	good, _ := json.Marshal(fileRestore{Path: inside, Content: &evil})
	writeJournal(t, path,
		journalLine{Type: "header", Version: 1, PID: pid, CreateTime: create},
		journalLine{Type: "change", Change: &Change{Seq: 1, Kind: "file.restore", Summary: "ok", Undo: good}})
	os.Chmod(path, 0o666)
	if _, err := Reset(context.Background(), path, opts); !errors.Is(err, ErrRefused) {
		t.Errorf("world-writable journal: %v, want ErrRefused", err)
	}
	os.Chmod(path, 0o600)
	ln := filepath.Join(dir, "link.jsonl")
	os.Symlink(path, ln)
	if _, err := Reset(context.Background(), ln, opts); !errors.Is(err, ErrRefused) {
		t.Errorf("journal through a link: %v, want ErrRefused", err)
	}
	if os.Getuid() == 0 {
		// Root resetting a student's journal: refused, run it as them.
		os.Chown(path, 65534, 65534)
		if _, err := Reset(context.Background(), path, opts); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "as the user who took the exam") {
			t.Errorf("another user's journal: %v, want ErrRefused", err)
		}
		os.Chown(path, 0, 0)
	}
	// The same journal, sound, is undone.
	if rep, err := Reset(context.Background(), path, opts); err != nil || rep.Remaining != 0 {
		t.Fatalf("sound journal: %+v %v", rep, err)
	}
	if b, _ := os.ReadFile(inside); string(b) != "pwned" {
		t.Errorf("sound change not undone: %q", b)
	}
	// ReplaceFile refuses to record what reset would refuse.
	j, _, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close(context.Background())
	if err := j.ReplaceFile(victim, []byte("x"), 0o600); err == nil {
		t.Error("ReplaceFile outside the roots accepted")
	}
}

// FuzzParseJournal: a journal is read from disk after a crash; no input may
// crash the parser.
func FuzzParseJournal(f *testing.F) {
	f.Add([]byte(`{"type":"header","version":1,"pid":12}` + "\n" + `{"type":"change","change":{"seq":1,"kind":"file.restore","undo":{"path":"/x","content":null}}}` + "\n"))
	f.Add([]byte("garbage\n{}\n"))
	f.Add([]byte(`{"type":"undone","seq":1}` + "\n" + `{"type":"change","change":{"seq":1`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, pending, err := parseJournal(b)
		if err != nil {
			return
		}
		for _, c := range pending {
			checkChange(c, []string{"/nonexistent-root"})
		}
	})
}
