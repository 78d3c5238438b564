//go:build unix

package launch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

func osCurrentUser() (userIdentity, error) {
	u := userIdentity{ID: strconv.Itoa(os.Getuid())}
	if pw, err := user.LookupId(u.ID); err == nil {
		u.Name = pw.Username
	}
	return u, nil
}

// prepareUserDir makes base (shared, 1777) if it is missing and dir, this
// user's folder in it (0700); see Config.PrepareDirs.
func prepareUserDir(base, dir string) error {
	if _, err := os.Lstat(base); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(base, 0o755); err != nil {
			return fmt.Errorf("create %s, the shared folder the machine configuration names: %w (IT staff: create it as root, mode 1777)", base, err)
		}
		if err := os.Chmod(base, 0o777|fs.ModeSticky); err != nil {
			return fmt.Errorf("share %s: %w", base, err)
		}
	} else if err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("cannot create your folder %s: %w; the machine configuration's shared folder %s must let every user create a folder in it (IT staff: root-owned, mode 1777)", dir, err, base)
		}
		return fmt.Errorf("create %s: %w", dir, err)
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a folder (%v): refusing it; IT staff must remove it", dir, st.Mode().Type())
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: cannot read its owner", dir)
	}
	if int(sys.Uid) != os.Getuid() {
		return fmt.Errorf("%s belongs to user id %d, not to you (user id %d): refusing it; IT staff must remove it", dir, sys.Uid, os.Getuid())
	}
	if st.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("make %s private: %w", dir, err)
		}
	}
	return nil
}
