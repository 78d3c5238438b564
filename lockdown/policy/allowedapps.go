package policy

import (
	"fmt"
	"slices"
	"strings"
)

// An AllowedApp is a program the student may use during the exam next to
// Invigil (a calculator, a PDF reader): while it holds the input focus, the
// exam window's focus loss is not a violation. It is written the way
// processes.allowed[] is: name patterns per OS (MatchName) and, to tell a
// renamed copy of another program apart, executable digests.
type AllowedApp struct {
	// Name is the program's name as a student knows it ("Calculator"),
	// shown in events and on the indicator.
	Name string `json:"name"`
	// Names are process-name patterns per OS (see MatchName).
	Names OSList `json:"names"`
	// SHA256 are hex SHA-256 digests of the program's executables. When
	// set, a process matches only if its executable has one of them (and,
	// with Names too, its name matches as well): a prohibited program
	// renamed to "gnome-calculator" is then not allowed.
	SHA256 []string `json:"sha256,omitempty"`
}

// maxAllowedApps bounds the list: each entry is matched on every focus
// change.
const maxAllowedApps = 100

// fillAllowedApps normalises the digests (lower case).
func (p *Policy) fillAllowedApps() {
	for i := range p.AllowedApps {
		for j, h := range p.AllowedApps[i].SHA256 {
			p.AllowedApps[i].SHA256[j] = strings.ToLower(h)
		}
	}
}

// validateAllowedApps checks allowed_apps: a name, something to match,
// valid patterns and digests, no name twice, and no pattern that a
// prohibited program uses too (a program cannot be both).
func (p *Policy) validateAllowedApps(v *validator) {
	if len(p.AllowedApps) > maxAllowedApps {
		v.add("allowed_apps", "has %d programs, at most %d", len(p.AllowedApps), maxAllowedApps)
	}
	names := map[string]int{}
	for i, a := range p.AllowedApps {
		at := fmt.Sprintf("allowed_apps[%d]", i)
		name := strings.TrimSpace(a.Name)
		switch {
		case name == "":
			v.add(at+".name", "is empty")
		case len(a.Name) > 100:
			v.add(at+".name", "is %d bytes long, at most 100", len(a.Name))
		default:
			at += " (" + name + ")"
			if j, dup := names[strings.ToLower(name)]; dup {
				v.add(at+".name", "%q is used by allowed_apps[%d] too", name, j)
			}
			names[strings.ToLower(name)] = i
		}
		if a.Names.empty() && len(a.SHA256) == 0 {
			v.add(at, "has neither names nor sha256: it can match nothing")
		}
		v.patterns(at+".names", a.Names)
		v.digests(at+".sha256", a.SHA256)
		for _, os := range []string{"linux", "windows", "darwin"} {
			for _, pat := range a.Names.For(os) {
				for k, r := range p.Processes.Prohibited {
					for _, bad := range r.Names.For(os) {
						if strings.EqualFold(pat, bad) {
							v.add(at+".names", "%q (%s) is also prohibited by processes.prohibited[%d] (%s): a program cannot be both allowed and prohibited", pat, os, k, r.ID)
						}
					}
				}
			}
		}
	}
}

// MatchApp returns the allowed app that a process with the given names
// (its process name and its executable's base name) and executable digest
// matches on goos, or nil. An app with names must match one of them (an
// app whose names list nothing for goos matches no process there unless it
// has only digests); an app with digests must match one of them too (hash
// "" matches none). Pass runtime.GOOS as goos outside tests.
func (p *Policy) MatchApp(goos string, names []string, hash string) *AllowedApp {
	hash = strings.ToLower(hash)
	for i := range p.AllowedApps {
		a := &p.AllowedApps[i]
		if len(a.SHA256) > 0 && (hash == "" || !slices.Contains(a.SHA256, hash)) {
			continue
		}
		if a.Names.empty() {
			return a
		}
		for _, pat := range a.Names.For(goos) {
			for _, n := range names {
				if n != "" && MatchName(pat, n) {
					return a
				}
			}
		}
	}
	return nil
}

// NeedsAppHash reports whether matching allowed apps needs executable
// digests.
func (p *Policy) NeedsAppHash() bool {
	for _, a := range p.AllowedApps {
		if len(a.SHA256) > 0 {
			return true
		}
	}
	return false
}
