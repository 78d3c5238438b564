//go:build windows

package launch

import (
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/invigil/invigil/internal/winetest"
)

func isWindows() bool { return true }

// TestWindowsUserDirPrivate: a user's folder in a machine-wide base
// admits only the user and SYSTEM, with the user as owner; preparing it
// again keeps it so. (That its list is not inherited is checked on the
// descriptor it is created with, TestWindowsUserOnlySD: Wine keeps no
// such flag, it derives a folder's list from the Unix mode.)
func TestWindowsUserDirPrivate(t *testing.T) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(winetest.TempDir(t, "userdir-test-"), "spool")
	dir := filepath.Join(base, tu.User.Sid.String())
	for i := 0; i < 2; i++ {
		if err := prepareUserDir(base, dir); err != nil {
			t.Fatalf("prepare (%d): %v", i, err)
		}
		sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("after prepare %d: %s", i, sd.String())
		owner, _, err := sd.Owner()
		if err != nil || !owner.Equals(tu.User.Sid) {
			t.Errorf("owner %v (%v), want %v", owner, err, tu.User.Sid)
		}
		dacl, _, err := sd.DACL()
		if err != nil || admitsOthers(dacl, tu.User.Sid) {
			t.Errorf("the folder admits others: %s (%v)", sd.String(), err)
		}
	}
}

// TestWindowsUserOnlySD: the descriptor a user's folder is created with
// admits only the user and SYSTEM, is not inherited, and names the user as
// owner.
func TestWindowsUserOnlySD(t *testing.T) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	sd, err := userOnlySD(tu.User.Sid.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", sd.String())
	checkUserOnly(t, sd, tu.User.Sid)
}

func checkUserOnly(t *testing.T, sd *windows.SECURITY_DESCRIPTOR, user *windows.SID) {
	t.Helper()
	owner, _, err := sd.Owner()
	if err != nil || !owner.Equals(user) {
		t.Errorf("owner %v (%v), want %v", owner, err, user)
	}
	ctl, _, err := sd.Control()
	if err != nil || ctl&windows.SE_DACL_PROTECTED == 0 {
		t.Errorf("the access list is inherited (control %#x, %v)", ctl, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		t.Fatalf("no access list: %v", err)
	}
	var sids []string
	for j := uint32(0); j < uint32(dacl.AceCount); j++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, j, &ace); err != nil {
			t.Fatal(err)
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			t.Errorf("ACE %d has type %d", j, ace.Header.AceType)
		}
		sids = append(sids, sid.String())
		if !sid.Equals(user) && !sid.IsWellKnown(windows.WinLocalSystemSid) {
			t.Errorf("the access list admits %s", sid)
		}
	}
	if len(sids) != 2 {
		t.Errorf("access list %v, want the user and SYSTEM", sids)
	}
}
