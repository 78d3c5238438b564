package invigil

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/invigil/invigil"

type goPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) map[string]goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps=false", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]goPackage{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

func under(path, dir string) bool {
	full := module + "/" + dir
	return path == full || strings.HasPrefix(path, full+"/")
}

// TestDependencyRules enforces DESIGN.md's package boundaries on the
// non-test imports of every package, transitively.
func TestDependencyRules(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	rules := []struct {
		from   string // package dir (and below)
		banned func(dep string) bool
		why    string
	}{
		{"lockdown", func(d string) bool { return strings.HasPrefix(d, "fyne.io/") }, "lockdown never imports Fyne"},
		{"capture", func(d string) bool { return strings.HasPrefix(d, "fyne.io/") }, "capture never imports Fyne"},
		{"transport", func(d string) bool { return strings.HasPrefix(d, "fyne.io/") }, "transport never imports Fyne"},
		{"backend", func(d string) bool { return strings.HasPrefix(d, "fyne.io/") }, "backend never imports Fyne"},
		{"lockdown", func(d string) bool { return under(d, "transport") || under(d, "capture") }, "lockdown hands violations to the client, not to transport"},
		{"capture", func(d string) bool { return under(d, "transport") || under(d, "lockdown") }, "capture hands frames to the client, not to transport"},
		{"transport", func(d string) bool {
			return under(d, "lockdown") || under(d, "capture") || under(d, "client") || under(d, "backend")
		}, "transport is the bottom layer"},
		{"backend", func(d string) bool {
			return under(d, "client") || under(d, "capture") || under(d, "cmd") ||
				(under(d, "lockdown") && !under(d, "lockdown/policy"))
		}, "the backend imports only transport, lockdown/policy and assets of the project"},
		{"cmd/invigil", func(d string) bool { return under(d, "backend") || under(d, "cmd/invigild") }, "the student's binary never contains the backend"},
		{"assets", func(d string) bool { return strings.HasPrefix(d, module) }, "assets imports nothing of the project"},
		{"backend", func(d string) bool { return under(d, "internal/browsertest") }, "internal/browsertest is for tests only"},
		{"cmd", func(d string) bool { return under(d, "internal/browsertest") }, "internal/browsertest is for tests only"},
		{"client", func(d string) bool { return under(d, "internal/browsertest") }, "internal/browsertest is for tests only"},
		{"client/launch", func(d string) bool {
			return strings.HasPrefix(d, "fyne.io/") || (under(d, "client") && !under(d, "client/launch") && !under(d, "client/internal/msg")) ||
				under(d, "capture") || under(d, "backend") || (under(d, "lockdown") && !under(d, "lockdown/policy"))
		}, "launch setup is below the flow and the exam runtime: client imports it, not the other way; no UI, no capture"},
		{"client/exam", func(d string) bool {
			return d == module+"/client" || under(d, "client/ui") || under(d, "client/flowtest") || strings.HasPrefix(d, "fyne.io/")
		}, "the exam runtime knows no screens: the flow (client) and the UI drive it"},
	}
	for path, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
		for _, r := range rules {
			if rel != r.from && !strings.HasPrefix(rel, r.from+"/") {
				continue
			}
			for _, d := range p.Deps {
				if r.banned(d) {
					t.Errorf("%s depends on %s: %s", path, d, r.why)
				}
			}
		}
		for _, imp := range p.Imports {
			if imp == "testing" || imp == "go.uber.org/goleak" {
				t.Errorf("%s imports %s outside its tests", path, imp)
			}
		}
	}
}
