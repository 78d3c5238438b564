package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/invigil/invigil/assets"
)

// TestDefaultList checks the shipped prohibited list as data: it parses,
// every entry can match something on some OS, no two entries share a
// product name, and on each OS no process name is matched twice (by an
// equal pattern, by a glob that covers a plain name, or by a plain name
// that the ".exe" rule already catches), within an entry or across entries.
func TestDefaultList(t *testing.T) {
	p, err := Parse(assets.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Processes.Prohibited); n < 100 {
		t.Errorf("default policy has %d prohibited programs, want at least 100", n)
	}
	names := map[string]string{}
	for _, r := range p.Processes.Prohibited {
		if r.Names.empty() {
			t.Errorf("%s: no executable names", r.ID)
		}
		if other, ok := names[strings.ToLower(r.Name)]; ok {
			t.Errorf("%s and %s are both called %q", other, r.ID, r.Name)
		}
		names[strings.ToLower(r.Name)] = r.ID
		for _, pat := range append(append(append([]string{}, r.Names.All...), r.Names.Linux...), r.Names.Darwin...) {
			if strings.HasSuffix(strings.ToLower(pat), ".exe") {
				t.Errorf("%s: %q ends in .exe but applies outside Windows", r.ID, pat)
			}
		}
	}
	for _, problem := range duplicateNames(p) {
		t.Error(problem)
	}
	// Every category the issue names has entries.
	count := map[string]int{}
	for _, r := range p.Processes.Prohibited {
		count[r.Category]++
	}
	for _, c := range Categories {
		if c != "other" && count[c] == 0 {
			t.Errorf("no entries in category %s", c)
		}
	}
}

// duplicateNames lists the process names that two patterns of p's
// prohibited list match on the same OS.
func duplicateNames(p *Policy) []string {
	type pat struct{ id, pattern string }
	var out []string
	for _, goos := range []string{"linux", "windows", "darwin"} {
		var pats []pat
		for _, r := range p.Processes.Prohibited {
			for _, s := range r.Names.For(goos) {
				pats = append(pats, pat{r.ID, s})
			}
		}
		for i, a := range pats {
			for j, b := range pats {
				if i == j {
					continue
				}
				if i < j && strings.EqualFold(a.pattern, b.pattern) {
					out = append(out, fmt.Sprintf("%s: %q (%s) and %q (%s) are the same pattern", goos, a.pattern, a.id, b.pattern, b.id))
					continue
				}
				if strings.ContainsAny(a.pattern, "*?[") {
					continue
				}
				// a is a plain name: the process it names must not match b.
				cands := []string{a.pattern}
				if goos == "windows" && !strings.HasSuffix(strings.ToLower(a.pattern), ".exe") {
					cands = append(cands, a.pattern+".exe")
				}
				for _, c := range cands {
					if !strings.EqualFold(a.pattern, b.pattern) && MatchName(b.pattern, c) {
						out = append(out, fmt.Sprintf("%s: %q (%s) is also matched by %q (%s)", goos, c, a.id, b.pattern, b.id))
						break
					}
				}
			}
		}
	}
	return out
}

// The duplicate finder itself finds what it should.
func TestDuplicateNames(t *testing.T) {
	tests := []struct {
		name  string
		rules []ProcessRule
		want  int
	}{
		{"none", []ProcessRule{{ID: "a", Names: OSList{All: []string{"zoom"}}}, {ID: "b", Names: OSList{All: []string{"slack"}}}}, 0},
		{"case", []ProcessRule{{ID: "a", Names: OSList{Linux: []string{"QQ", "qq"}}}}, 1},
		{"across entries", []ProcessRule{{ID: "a", Names: OSList{Darwin: []string{"OBS"}}}, {ID: "b", Names: OSList{Darwin: []string{"obs"}}}}, 1},
		{"glob covers", []ProcessRule{{ID: "a", Names: OSList{Windows: []string{"Snagit*.exe", "SnagitEditor.exe"}}}}, 1},
		{"exe rule covers", []ProcessRule{{ID: "a", Names: OSList{All: []string{"skype"}, Windows: []string{"Skype.exe"}}}}, 2}, // both ways round
		{"all against OS", []ProcessRule{{ID: "a", Names: OSList{All: []string{"anydesk"}, Windows: []string{"AnyDesk*.exe"}}}}, 1},
		{"other OS", []ProcessRule{{ID: "a", Names: OSList{Linux: []string{"x11vnc"}, Darwin: []string{"x11vnc"}}}}, 0},
	}
	for _, tt := range tests {
		got := duplicateNames(&Policy{Processes: Processes{Prohibited: tt.rules}})
		if len(got) != tt.want {
			t.Errorf("%s: got %d problems %q, want %d", tt.name, len(got), got, tt.want)
		}
	}
}
