//go:build windows

package launch

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

func osCurrentUser() (userIdentity, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return userIdentity{}, err
	}
	u := userIdentity{ID: tu.User.Sid.String()}
	if name, _, _, err := tu.User.Sid.LookupAccount(""); err == nil {
		u.Name = name
	}
	return u, nil
}

// userOnlySD is a protected access list that admits only sid and SYSTEM,
// with sid as the owner.
func userOnlySD(sid string) (*windows.SECURITY_DESCRIPTOR, error) {
	return windows.SecurityDescriptorFromString("O:" + sid + "D:P(A;OICI;FA;;;" + sid + ")(A;OICI;FA;;;SY)")
}

// prepareUserDir makes base if it is missing (it inherits %ProgramData%'s
// access list, which lets users create folders) and dir, this user's
// folder in it, with an access list for the user and SYSTEM only; an
// existing dir must belong to the user and gets that list again.
func prepareUserDir(base, dir string) error {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return fmt.Errorf("create %s, the shared folder the machine configuration names: %w", base, err)
	}
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return fmt.Errorf("who is the current user: %w", err)
	}
	sd, err := userOnlySD(tu.User.Sid.String())
	if err != nil {
		return fmt.Errorf("access list for %s: %w", dir, err)
	}
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return err
	}
	sa := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
	err = windows.CreateDirectory(p, sa)
	if err == nil {
		return nil
	}
	if !errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return fmt.Errorf("cannot create your folder %s: %w; the machine configuration's shared folder %s must let every user create a folder in it", dir, err, base)
		}
		return fmt.Errorf("create %s: %w", dir, err)
	}
	cur, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("%s: read its owner: %w", dir, err)
	}
	owner, _, err := cur.Owner()
	if err != nil {
		return fmt.Errorf("%s: read its owner: %w", dir, err)
	}
	if !owner.Equals(tu.User.Sid) {
		return fmt.Errorf("%s belongs to %s, not to you (%s): refusing it; IT staff must remove it", dir, owner.String(), tu.User.Sid.String())
	}
	if curDACL, _, err := cur.DACL(); err == nil && !admitsOthers(curDACL, tu.User.Sid) {
		return nil
	}
	// Someone widened it: only the user and SYSTEM again.
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		return fmt.Errorf("make %s private: %w", dir, err)
	}
	return nil
}

// admitsOthers reports whether an access list lets anyone but user and
// SYSTEM in (a missing list lets everyone in).
func admitsOthers(dacl *windows.ACL, user *windows.SID) bool {
	if dacl == nil {
		return true
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return true
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue // a deny entry admits no one
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if !sid.Equals(user) && !sid.IsWellKnown(windows.WinLocalSystemSid) {
			return true
		}
	}
	return false
}
