package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReleaseBuildHasNoTestDriver: the invigil students install (built
// without the tag invigil_uitest, as every build script does) has neither
// the desktop app's test driver nor its flag; the tests' build has both.
func TestReleaseBuildHasNoTestDriver(t *testing.T) {
	test, _ := binaries(t) // built with -tags invigil_uitest
	release := filepath.Join(t.TempDir(), "invigil")
	if out, err := exec.Command("go", "build", "-o", release, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, c := range []struct {
		bin  string
		want bool
	}{{release, false}, {test, true}} {
		help, _ := exec.Command(c.bin, "run", "-h").CombinedOutput()
		if got := strings.Contains(string(help), "ui-test-control"); got != c.want {
			t.Errorf("%s: run -h mentions --ui-test-control: %v, want %v", c.bin, got, c.want)
		}
		syms, err := exec.Command("go", "tool", "nm", c.bin).Output()
		if err != nil {
			t.Fatalf("go tool nm: %v", err)
		}
		if got := strings.Contains(string(syms), "ui.(*TestDriver).serve"); got != c.want {
			t.Errorf("%s: has the test driver's code: %v, want %v", c.bin, got, c.want)
		}
	}
}
