package launch

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
)

// userIdentity is the user the client runs as.
type userIdentity struct {
	Name string // the login name ("alice"); may be empty
	ID   string // Unix: the numeric user id; Windows: the SID
}

// currentUser is the OS's answer; tests stand in other users.
var currentUser = osCurrentUser

// userFolder is the name of this user's folder in a machine-wide base
// folder (Config.SpoolBase, Config.JournalBase).
func userFolder() (string, error) {
	u, err := currentUser()
	if err != nil {
		return "", fmt.Errorf("who is the current user: %w", err)
	}
	return userFolderName(u, runtime.GOOS)
}

// userFolderName names a user's folder: on Windows the SID (names change,
// and a domain name has a backslash); elsewhere the login name when it is a
// plain file name, else "uid-" and the user id.
func userFolderName(u userIdentity, goos string) (string, error) {
	plain := func(s string) bool {
		if s == "" || len(s) > 64 || s[0] == '.' || s[0] == '-' {
			return false
		}
		return strings.IndexFunc(s, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == '@')
		}) < 0
	}
	if goos == "windows" {
		if !strings.HasPrefix(u.ID, "S-") || !plain(u.ID) {
			return "", fmt.Errorf("unusable user SID %q", u.ID)
		}
		return u.ID, nil
	}
	if plain(u.Name) {
		return u.Name, nil
	}
	if u.ID == "" || strings.Trim(u.ID, "0123456789") != "" {
		return "", fmt.Errorf("unusable user id %q", u.ID)
	}
	return "uid-" + u.ID, nil
}

// PrepareDirs creates this user's folders in the machine-wide base folders
// the machine file names (SpoolBase, JournalBase). A missing base is
// created shared (Unix: mode 1777 with the sticky bit, like /tmp: every
// user can make a folder in it and nobody can remove or rename another
// user's); the user's own folder is private (Unix: mode 0700; Windows: an
// access list that admits only the user and SYSTEM). A folder of that
// name that belongs to someone else is refused. Runs call it before they
// join; `invigil config show` does not (it changes nothing).
func (c Config) PrepareDirs() error {
	var errs []error
	if c.SpoolBase != "" {
		if err := prepareUserDir(c.SpoolBase, c.SpoolDir); err != nil {
			errs = append(errs, fmt.Errorf("spool folder: %w", err))
		}
	}
	if c.JournalBase != "" {
		if err := prepareUserDir(c.JournalBase, filepath.Dir(c.JournalPath)); err != nil {
			errs = append(errs, fmt.Errorf("journal folder: %w", err))
		}
	}
	return errors.Join(errs...)
}
