package capture

import (
	"os/exec"
	"strings"
	"testing"
)

// testingImporters are third-party packages known to import "testing"
// outside tests: github.com/jezek/xgb (X11 client, via kbinani/screenshot)
// does in xgb.go.
var testingImporters = map[string]bool{"github.com/jezek/xgb": true}

// TestDeps keeps the dependency graph honest (STYLE.md item 3): capture
// never imports Fyne or another Invigil package (transport in particular),
// and nothing it links imports "testing" except the known third-party
// offenders above.
func TestDeps(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("go tool not in PATH")
	}
	for _, goos := range []string{"linux", "windows", "darwin"} {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "github.com/invigil/invigil/capture")
		cmd.Env = append(cmd.Environ(), "GOOS="+goos)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list (%s): %v\n%s", goos, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			fields := strings.Fields(line)
			pkg, imports := fields[0], fields[1:]
			if strings.HasPrefix(pkg, "fyne.io/") ||
				strings.HasPrefix(pkg, "github.com/invigil/invigil/") && pkg != "github.com/invigil/invigil/capture" {
				t.Errorf("%s: capture depends on %s", goos, pkg)
			}
			for _, imp := range imports {
				if imp == "testing" && !testingImporters[pkg] {
					t.Errorf("%s: %s imports testing outside a test", goos, pkg)
				}
			}
		}
	}
}
