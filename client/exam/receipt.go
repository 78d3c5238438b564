package exam

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/invigil/invigil/client/internal/msg"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ReceiptRecord is what the saved receipt holds: the backend's receipt
// plus when the exam started and how it ended.
type ReceiptRecord struct {
	Exam           string         `json:"exam"`
	SessionID      string         `json:"session_id"`
	StartedAt      time.Time      `json:"started_at,omitzero"`
	FinishedAt     time.Time      `json:"finished_at"`
	EndedByProctor bool           `json:"ended_by_proctor"`
	Messages       uint64         `json:"messages"`
	ThisRun        map[string]int `json:"messages_this_run,omitempty"`
	Bytes          int64          `json:"bytes_this_run"`
	Digest         string         `json:"digest"`
	ServerDigest   string         `json:"server_digest,omitempty"`
	DigestMatch    bool           `json:"digest_match"`
	Lost           int            `json:"lost,omitempty"`
}

// NewReceiptRecord is r as it is saved.
func NewReceiptRecord(r Receipt, started time.Time, endedByProctor bool) ReceiptRecord {
	return ReceiptRecord{Exam: r.Exam, SessionID: r.SessionID, StartedAt: started, FinishedAt: r.FinishedAt,
		EndedByProctor: endedByProctor, Messages: r.Messages, ThisRun: r.ThisRun, Bytes: r.Bytes,
		Digest: r.ClientDigest, ServerDigest: r.ServerDigest, DigestMatch: r.Match, Lost: r.Lost}
}

// Text is the receipt as a person reads it (the .txt file and the
// clipboard).
func (r ReceiptRecord) Text() string {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%-14s %s\n", k+":", v) }
	b.WriteString("Invigil exam receipt\n\n")
	line("Exam", r.Exam)
	line("Session", r.SessionID)
	if !r.StartedAt.IsZero() {
		line("Started", r.StartedAt.Local().Format("Mon 2 Jan 2006, 15:04:05 MST"))
	}
	line("Finished", r.FinishedAt.Local().Format("Mon 2 Jan 2006, 15:04:05 MST"))
	if r.EndedByProctor {
		line("Ended by", "the proctor")
	}
	line("Messages", fmt.Sprintf("%d in the whole session", r.Messages))
	keys := make([]string, 0, len(r.ThisRun))
	for k := range r.ThisRun {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		line("  "+k, fmt.Sprintf("%d uploaded by this run", r.ThisRun[k]))
	}
	line("Uploaded", HumanBytes(r.Bytes)+" by this run")
	if r.Lost > 0 {
		line("Lost", fmt.Sprintf("%d messages damaged on this computer's disk", r.Lost))
	}
	line("Receipt code", r.Digest)
	if r.DigestMatch {
		line("Server", "computed the same receipt code")
	} else {
		line("Server", "computed a different code: "+r.ServerDigest)
	}
	return b.String()
}

// ReceiptFiles are where a receipt was saved.
type ReceiptFiles struct {
	Text string // the .txt file
	JSON string // the .json file
}

// SaveReceipt writes the receipt into dir as a text file and a JSON file
// named after the exam and the finish time ("Invigil receipt - Physics
// midterm - 2026-12-05 15-04.txt"). It never overwrites a file: a second
// receipt of the same minute gets " (2)", and so on.
func SaveReceipt(dir string, r ReceiptRecord) (ReceiptFiles, error) {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return ReceiptFiles{}, fmt.Errorf("save the receipt: %w", err)
	}
	base := "Invigil receipt - "
	if name := fileNamePart(r.Exam); name != "" {
		base += name + " - "
	}
	base += r.FinishedAt.Local().Format("2006-01-02 15-04")
	for i := 1; i < 100; i++ {
		name := base
		if i > 1 {
			name += fmt.Sprintf(" (%d)", i)
		}
		files := ReceiptFiles{Text: filepath.Join(dir, name+".txt"), JSON: filepath.Join(dir, name+".json")}
		err := writeNew(files.Text, []byte(r.Text()))
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return ReceiptFiles{}, fmt.Errorf("save the receipt: %w", err)
		}
		if err := writeNew(files.JSON, append(js, '\n')); err != nil {
			os.Remove(files.Text)
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return ReceiptFiles{}, fmt.Errorf("save the receipt: %w", err)
		}
		return files, nil
	}
	return ReceiptFiles{}, fmt.Errorf("save the receipt: too many receipts named %q in %s", base, dir)
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// fileNamePart is s made safe for a file name on every OS: no path
// separators, reserved or control characters, at most 60 bytes.
func fileNamePart(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f || strings.ContainsRune(`/\:*?"<>|`, r):
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	s = strings.Trim(msg.Truncate(s, 60), ". ")
	return strings.TrimSuffix(s, "…")
}

// DocumentsDir is the user's documents folder, where the receipt is
// saved: XDG_DOCUMENTS_DIR (xdg-user-dir) or ~/Documents on Linux and the
// BSDs, the Documents known folder on Windows, ~/Documents on macOS. When
// that folder does not exist it is the home folder (Invigil creates no
// folders there).
func DocumentsDir() (string, error) {
	if d := documentsDir(); d != "" && isDir(d) {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the documents folder: %w", err)
	}
	if d := filepath.Join(home, "Documents"); isDir(d) {
		return d, nil
	}
	if !isDir(home) {
		return "", fmt.Errorf("find the documents folder: home folder %s does not exist", home)
	}
	return home, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// HumanBytes is a size for people: "340 bytes", "4.2 kB", "56 kB", "1.5 MB", "12 MB".
func HumanBytes(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%d kB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
