package backend

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/invigil/invigil/backend/accounts"
)

// The evidence bundle (docs/dashboard.md "Evidence bundle"): one zip per
// attempt with the recordings as stored (fragmented MP4, committed part),
// the events, commands, notes and stills, and manifest.json naming every
// file with its SHA-256 and the session's chain digest, the one the
// student's receipt shows. SHA256SUMS holds the same hashes for
// `sha256sum -c`. The zip is streamed: nothing is buffered whole.

// EvidenceFormat names the manifest's layout.
const EvidenceFormat = "invigil-evidence/1"

// EvidenceFile is one file of the bundle in its manifest.
type EvidenceFile struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// EvidenceManifest is manifest.json.
type EvidenceManifest struct {
	Format     string         `json:"format"`
	Session    string         `json:"session_id"`
	ExamID     string         `json:"exam_id"`
	ExamName   string         `json:"exam_name"`
	State      string         `json:"state"`
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt time.Time      `json:"finished_at,omitzero"`
	LastSeq    uint64         `json:"last_seq"`
	Digest     string         `json:"digest"` // the receipt's digest: SHA-256 chain over every stored message (docs/protocol.md §5)
	Outcome    Outcome        `json:"outcome,omitempty"`
	Hold       bool           `json:"hold,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
	CreatedBy  string         `json:"created_by"`
	Files      []EvidenceFile `json:"files"`
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// WriteEvidence writes session id's bundle to w as a zip, by.
func (b *Backend) WriteEvidence(ctx context.Context, w io.Writer, id, by string) (*EvidenceManifest, error) {
	d, err := b.Attempt(ctx, id)
	if err != nil {
		return nil, err
	}
	m := &EvidenceManifest{Format: EvidenceFormat, Session: d.Session.ID, ExamID: d.Exam.ID, ExamName: d.Exam.Name,
		State: d.Session.State, StartedAt: d.Session.CreatedAt, FinishedAt: d.Session.FinishedAt,
		LastSeq: d.Session.LastAck, Digest: d.Session.Digest, Outcome: d.Review.Outcome, Hold: d.Review.Hold,
		CreatedAt: b.cfg.Now().UTC(), CreatedBy: by, Files: []EvidenceFile{}}
	zw := zip.NewWriter(w)
	add := func(name string, method uint16, src io.Reader) error {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: m.CreatedAt})
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, h), src)
		if err != nil {
			return fmt.Errorf("evidence %s: %w", name, err)
		}
		m.Files = append(m.Files, EvidenceFile{Name: name, SHA256: hex.EncodeToString(h.Sum(nil)), Bytes: n})
		return nil
	}
	addJSON := func(name string, v any) error {
		j, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		return add(name, zip.Deflate, strings.NewReader(string(j)+"\n"))
	}
	for _, v := range d.Videos {
		path, size, _, err := b.committedTrack(ctx, id, v.Name)
		if err != nil {
			return nil, err
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		err = add(v.Name+".mp4", zip.Store, io.LimitReader(f, size))
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	if len(d.Stills) > 0 {
		frames, err := b.committedFrames(ctx, id, "stills")
		if err != nil {
			return nil, err
		}
		for i, s := range d.Stills {
			if i >= len(frames) {
				break
			}
			why := unsafeName.ReplaceAllString(s.Why, "_")
			if why == "" {
				why = "still"
			}
			name := fmt.Sprintf("stills/%03d-%s.jpg", s.Index, why)
			if err := add(name, zip.Store, strings.NewReader(string(frames[i].Payload))); err != nil {
				return nil, err
			}
		}
	}
	for _, j := range []struct {
		name string
		v    any
	}{
		{"events.json", d.Events},
		{"commands.json", d.Commands},
		{"notes.json", d.Notes},
		{"session.json", d.Session},
	} {
		if err := addJSON(j.name, j.v); err != nil {
			return nil, err
		}
	}
	var sums strings.Builder
	for _, f := range m.Files {
		fmt.Fprintf(&sums, "%s  %s\n", f.SHA256, f.Name)
	}
	// The manifest and SHA256SUMS describe the files above; they are not
	// listed in themselves.
	files := m.Files
	if err := addJSON("manifest.json", m); err != nil {
		return nil, err
	}
	if err := add("SHA256SUMS", zip.Deflate, strings.NewReader(sums.String())); err != nil {
		return nil, err
	}
	m.Files = files
	return m, zw.Close()
}

func (b *Backend) handleEvidence(w http.ResponseWriter, r *http.Request, s *accounts.Store) {
	ctx := r.Context()
	u := accounts.UserFrom(ctx)
	id := r.PathValue("session")
	// Audit before a byte leaves: a download that cannot be recorded does
	// not happen.
	if err := s.Audit(ctx, accounts.ActorOf(u, s.ClientIP(r)), "evidence.download", id, ""); err != nil {
		b.internalError(w, "dashboard: audit", err)
		return
	}
	name := "invigil-evidence-" + filepath.Base(unsafeName.ReplaceAllString(id, "_")) + ".zip"
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	cw := &countingWriter{w: w}
	if _, err := b.WriteEvidence(ctx, cw, id, u.Name); err != nil {
		if cw.n == 0 {
			w.Header().Del("Content-Disposition")
			b.internalError(w, "dashboard: evidence bundle", err)
			return
		}
		// Too late for a status: the truncated zip fails to open (its
		// central directory is missing), and the log says why.
		b.log.Error("evidence bundle cut short", "session", id, "err", err)
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
