//go:build windows

package launch

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// writeAccess are the rights that let a principal change a file's content
// or its protection.
const writeAccess = windows.FILE_WRITE_DATA | windows.FILE_APPEND_DATA | windows.WRITE_DAC | windows.WRITE_OWNER |
	windows.DELETE | windows.GENERIC_WRITE | windows.GENERIC_ALL

// untrusted are the groups every local user is in.
var untrusted = []windows.WELL_KNOWN_SID_TYPE{
	windows.WinWorldSid, windows.WinBuiltinUsersSid, windows.WinAuthenticatedUserSid,
	windows.WinInteractiveSid, windows.WinAnonymousSid, windows.WinBuiltinGuestsSid,
}

// checkConfigFile refuses a configuration file whose access list lets
// Everyone, Users, Authenticated Users, Interactive, Anonymous or Guests
// write it. The machine-wide file must also belong to Administrators,
// SYSTEM or TrustedInstaller. (The directory's inheritance is what
// %ProgramData%\Invigil's installer sets; its own ACL is not checked here.)
func checkConfigFile(f *os.File, path string, machine bool) error {
	sd, err := windows.GetSecurityInfo(windows.Handle(f.Fd()), windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("read its access list: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("read its access list: %w", err)
	}
	if dacl == nil {
		return errors.New("it has an empty access list (everyone may write it): refusing it")
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return fmt.Errorf("read its access list: %w", err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE || ace.Mask&writeAccess == 0 {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		for _, u := range untrusted {
			if sid.IsWellKnown(u) {
				return fmt.Errorf("every user may write it (%s): refusing it; let only Administrators write it", sid.String())
			}
		}
	}
	if !machine {
		return nil
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("read its owner: %w", err)
	}
	if owner.IsWellKnown(windows.WinBuiltinAdministratorsSid) || owner.IsWellKnown(windows.WinLocalSystemSid) || isTrustedInstaller(owner) {
		return nil
	}
	return fmt.Errorf("it belongs to %s, not Administrators: refusing the machine configuration", owner.String())
}

// isTrustedInstaller reports the TrustedInstaller service SID.
func isTrustedInstaller(s *windows.SID) bool {
	return s.String() == "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
}
