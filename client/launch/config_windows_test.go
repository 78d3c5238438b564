package launch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/invigil/invigil/internal/winetest"
)

// A configuration file whose access list lets Everyone write it is refused.
func TestConfigFileEveryoneWritable(t *testing.T) {
	p := filepath.Join(winetest.TempDir(t, "config-test-"), "config.json") // also runs under Wine
	if err := os.WriteFile(p, []byte(`{"server": "https://proctor.example.edu"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readConfig(p, false); err != nil {
		t.Fatalf("a file with the default access list: %v", err)
	}
	everyone, err := windows.CreateWellKnownSid(windows.WinWorldSid)
	if err != nil {
		t.Fatal(err)
	}
	acl, err := windows.ACLFromEntries([]windows.EXPLICIT_ACCESS{{
		AccessPermissions: windows.GENERIC_ALL,
		AccessMode:        windows.GRANT_ACCESS,
		Trustee: windows.TRUSTEE{TrusteeForm: windows.TRUSTEE_IS_SID, TrusteeType: windows.TRUSTEE_IS_WELL_KNOWN_GROUP,
			TrusteeValue: windows.TrusteeValueFromSID(everyone)},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := windows.SetNamedSecurityInfo(p, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, acl, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := readConfig(p, false); err == nil || !strings.Contains(err.Error(), "every user may write it") {
		t.Errorf("Everyone may write: %v", err)
	}
}
