package backend

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
)

// Everything the backend keeps is private to the account it runs as: the
// database holds every session's spool key and token hash, the keys sign
// policies and open the admin API. Directories are 0700 and files 0600,
// whatever the umask; Open tightens what an older build or an
// administrator left wider and says so.

// privateFiles are the files in the data directory's top level.
var privateFiles = []string{"invigil.db", "invigil.db-wal", "invigil.db-shm", "invigil.db-journal", "signing.key", "admin.token"}

// makePrivateDir creates dir (and its missing parents) with mode 0700, and
// narrows an existing dir that others can read or enter.
func makePrivateDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return tighten(dir, 0o700, log)
}

// tighten sets path's permission bits to want if it has any bit want lacks
// (on Unix; Windows has no mode bits to speak of). A missing file is fine.
func tighten(path string, want fs.FileMode, log *slog.Logger) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode()&os.ModeSymlink != 0 || st.Mode().Perm()&^want == 0 {
		return nil
	}
	if err := os.Chmod(path, want); err != nil {
		return err
	}
	if log != nil {
		log.Warn("narrowed permissions", "path", path, "was", st.Mode().Perm().String(), "now", want.String())
	}
	return nil
}

// tightenModes narrows the modes of the data directory's own files.
func tightenModes(dataDir string, log *slog.Logger) {
	for _, name := range privateFiles {
		if err := tighten(filepath.Join(dataDir, name), 0o600, log); err != nil && log != nil {
			log.Error("narrow permissions", "path", filepath.Join(dataDir, name), "err", err)
		}
	}
	// Recordings an older build left readable by others: narrowed in one
	// pass, reported once.
	n := 0
	root := filepath.Join(dataDir, "sessions")
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && log != nil {
				log.Error("narrow permissions", "path", p, "err", err)
			}
			return nil
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		} else if !d.Type().IsRegular() {
			return nil
		}
		st, err := d.Info()
		if err != nil || st.Mode().Perm()&^want == 0 {
			return nil
		}
		if err := tighten(p, want, nil); err != nil {
			if log != nil {
				log.Error("narrow permissions", "path", p, "err", err)
			}
			return nil
		}
		n++
		return nil
	})
	if n > 0 && log != nil {
		log.Warn("narrowed permissions of recordings others could read", "dir", root, "count", n)
	}
}

// createPrivate creates path, if missing, as an empty file with mode 0600.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}
