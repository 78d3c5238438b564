package exam

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Folders next to the spool that hold an earlier session's files (the
// kinds of AsideFolder):
//
//   - <spool>.kept-<session id>: an unfinished session of another exam, whole;
//     it resumes when its link or code is used again (keepSession).
//   - <spool>.retired-<time>: files of a session that can no longer resume
//     (its session file or token is gone, or the backend finished it);
//     spool.set_aside told the proctor (retireSpool).
//   - <spool>.damaged-<time>: spool segments with damaged records, cut out
//     of a running session; spool.corrupt told the proctor (transport).
const (
	AsideKept    = "kept"
	AsideRetired = "retired"
	AsideDamaged = "damaged"
)

// AsideKeptMaxAge is how long a kept session that holds no recording
// (no spool segment) waits for its exam's link to come again before
// CleanAside removes it: far longer than a backend accepts a session's
// token (a day after the join or a short grace after the exam closes, by
// default).
const AsideKeptMaxAge = 7 * 24 * time.Hour

// AsideFolder is one folder next to the spool holding an earlier
// session's files.
type AsideFolder struct {
	Dir  string `json:"dir"`
	Kind string `json:"kind"` // AsideKept, AsideRetired, AsideDamaged
	// Segments counts spool segment files: encrypted recording this
	// computer may not have uploaded. The spool does not keep on disk how
	// much of its last segment the backend acknowledged, so a folder with
	// segments may hold recording that never reached the backend: it is
	// never removed automatically.
	Segments int       `json:"segments"`
	Bytes    int64     `json:"bytes"`
	Since    time.Time `json:"since"` // when it was moved aside (the folder's time)
	Exam     string    `json:"exam,omitempty"`
}

// ListAside lists the folders next to spool that hold earlier sessions'
// files, oldest first.
func ListAside(spool string) []AsideFolder {
	parent, base := filepath.Dir(spool), filepath.Base(spool)
	entries, _ := os.ReadDir(parent) // ReadDir, not Glob: the path may hold glob characters
	var out []AsideFolder
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok || !e.IsDir() {
			continue
		}
		kind, _, _ := strings.Cut(rest, "-")
		if kind != AsideKept && kind != AsideRetired && kind != AsideDamaged {
			continue
		}
		a := AsideFolder{Dir: filepath.Join(parent, e.Name()), Kind: kind}
		if info, err := e.Info(); err == nil {
			a.Since = info.ModTime()
		}
		files, _ := os.ReadDir(a.Dir)
		for _, f := range files {
			if strings.HasSuffix(f.Name(), ".seg") {
				a.Segments++
			}
			if info, err := f.Info(); err == nil && info.Mode().IsRegular() {
				a.Bytes += info.Size()
			}
		}
		if kind == AsideKept {
			if sf, err := readSessionFile(a.Dir); err == nil && sf != nil {
				a.Exam = sf.Exam
			}
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}

// CleanAside removes the folders next to spool that hold no recording
// (no spool segment file): retired and damaged ones at once, kept ones
// after AsideKeptMaxAge (a kept session can still be resumed, to go on
// with its exam, until then). Folders with segments are kept whatever
// their age, since this computer cannot tell whether the backend has
// everything in them: it logs each one and returns them (`invigil config
// show` lists them too). Join calls it before it touches the spool.
func CleanAside(spool string, now time.Time, log *slog.Logger) (removed, kept []AsideFolder) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, a := range ListAside(spool) {
		if a.Segments > 0 || (a.Kind == AsideKept && now.Sub(a.Since) < AsideKeptMaxAge) {
			kept = append(kept, a)
			if a.Segments > 0 {
				log.Warn("an earlier session's recording is kept next to the spool: it may not have been uploaded",
					"dir", a.Dir, "kind", a.Kind, "segments", a.Segments, "bytes", a.Bytes, "since", a.Since.UTC().Format(time.RFC3339))
			}
			continue
		}
		if a.Kind == AsideKept {
			if sf, err := readSessionFile(a.Dir); err == nil {
				forgetToken(a.Dir, sf)
			}
		}
		if err := removeAside(a.Dir); err != nil {
			log.Warn("could not remove an emptied spool folder", "dir", a.Dir, "err", err)
			kept = append(kept, a)
			continue
		}
		log.Info("removed a spool folder that held no recording", "dir", a.Dir, "kind", a.Kind)
		removed = append(removed, a)
	}
	return removed, kept
}

// removeAside deletes a folder that holds no segment: it refuses (and
// leaves everything) if a segment appeared in the meantime, or if it
// holds a folder.
func removeAside(dir string) error {
	files, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".seg") || f.IsDir() {
			return errors.New("it holds " + f.Name())
		}
	}
	for _, f := range files {
		if err := os.Remove(filepath.Join(dir, f.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return os.Remove(dir)
}
