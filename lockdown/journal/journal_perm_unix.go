//go:build unix

package journal

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// checkJournalOwner accepts a journal this user owns and no one else may
// write.
func checkJournalOwner(_ *os.File, st os.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("cannot read its owner")
	}
	if uid := os.Geteuid(); int(sys.Uid) != uid {
		return fmt.Errorf("it belongs to user id %d, not to you (%d): run 'invigil reset' as the user who took the exam", sys.Uid, uid)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("others may write it (mode %v)", st.Mode().Perm())
	}
	return nil
}
