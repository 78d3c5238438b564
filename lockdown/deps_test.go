package lockdown

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDeps keeps the dependency graph honest: lockdown never imports Fyne,
// transport or capture, lockdown/policy stays pure data (no gopsutil, no
// lockdown), and no package of ours in their graph imports testing outside
// tests (github.com/jezek/xgb, which the display code uses, does itself).
func TestDeps(t *testing.T) {
	for _, tt := range []struct {
		pkg    string
		banned []string
	}{
		{"github.com/invigil/invigil/lockdown", []string{"fyne.io/", "github.com/invigil/invigil/transport", "github.com/invigil/invigil/capture", "github.com/invigil/invigil/client"}},
		{"github.com/invigil/invigil/lockdown/policy", []string{"fyne.io/", "github.com/shirou/gopsutil", "github.com/invigil/invigil/lockdown", "github.com/kbinani/"}},
		// The journal is undone by `invigil reset` too: it needs neither
		// the detectors nor the policy, and the lockdown package needs it.
		{"github.com/invigil/invigil/lockdown/journal", []string{"fyne.io/", "github.com/invigil/invigil/transport", "github.com/invigil/invigil/capture",
			"github.com/invigil/invigil/client", "github.com/invigil/invigil/lockdown/policy", "github.com/kbinani/", "github.com/jezek/xgb"}},
	} {
		ours, err := exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{.ImportPath}}: {{join .Imports " "}}{{end}}`, tt.pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", tt.pkg, err)
		}
		for line := range strings.Lines(string(ours)) {
			pkg, imports, _ := strings.Cut(strings.TrimSpace(line), ": ")
			if strings.HasPrefix(pkg, "github.com/invigil/invigil/") && slices.Contains(strings.Fields(imports), "testing") {
				t.Errorf("%s imports testing outside tests", pkg)
			}
		}
		out, err := exec.Command("go", "list", "-deps", tt.pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", tt.pkg, err)
		}
		for dep := range strings.Lines(string(out)) {
			dep = strings.TrimSpace(dep)
			for _, b := range tt.banned {
				if dep == b || strings.HasPrefix(dep, b) && (strings.HasSuffix(b, "/") || strings.HasPrefix(dep, b+"/")) {
					if dep == tt.pkg {
						continue
					}
					t.Errorf("%s depends on %s", tt.pkg, dep)
				}
			}
		}
	}
}
