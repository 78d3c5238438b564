//go:build unix

package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// checkConfigFile refuses a configuration file every user may write. The
// machine-wide file must also belong to root, not be writable by a group
// other than root's, and sit in directories that only root can change
// (a writable directory lets anyone swap the file).
func checkConfigFile(f *os.File, path string, machine bool) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := checkOwnerMode(st, machine); err != nil {
		return err
	}
	if !machine {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		dst, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if err := checkOwnerMode(dst, true); err != nil {
			return fmt.Errorf("directory %s: %w", dir, err)
		}
		if filepath.Dir(dir) == dir {
			return nil
		}
	}
}

func checkOwnerMode(st os.FileInfo, machine bool) error {
	mode := st.Mode()
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("cannot read its owner")
	}
	// A sticky world-writable directory (/tmp) still lets only a file's
	// owner replace it; but the machine's configuration has no business
	// there.
	if mode.Perm()&0o002 != 0 {
		return fmt.Errorf("it is writable by every user (mode %v): refusing it; make it writable by root only (chmod o-w)", mode.Perm())
	}
	if !machine {
		return nil
	}
	if sys.Uid != 0 {
		return fmt.Errorf("it belongs to user id %d, not root: refusing the machine configuration (chown root)", sys.Uid)
	}
	if mode.Perm()&0o020 != 0 && sys.Gid != 0 {
		return fmt.Errorf("it is writable by group id %d (mode %v): refusing the machine configuration (chmod g-w)", sys.Gid, mode.Perm())
	}
	return nil
}
