package exam

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/lockdown/journal"
)

// Violations leave this computer without the names of its users: a program
// path such as /home/alice/Downloads/AnyDesk or C:\Users\alice\AnyDesk.exe
// becomes /home/<user>/Downloads/AnyDesk, and the student's own home
// directory, wherever it is, becomes ~. The program's name, the rest of
// its path and its hash still tell the proctor what ran. (docs/policy.md:
// "evidence".)

// userDirs matches the user-name part of the usual home directory layouts.
var userDirs = regexp.MustCompile(`(?i)(/home/|/Users/|/var/home/|[A-Z]:\\Users\\|[A-Z]:\\Documents and Settings\\)[^/\\]+`)

// redactor removes user names from evidence text.
type redactor struct {
	home string // the student's home directory, "" if unknown
}

func newRedactor() redactor {
	home, _ := os.UserHomeDir()
	if home != "" && filepath.Dir(home) == home {
		home = "" // "/" as a home: nothing to hide, and every path starts with it
	}
	return redactor{home: home}
}

// text redacts one string.
func (r redactor) text(s string) string {
	if r.home != "" {
		if i := indexFold(s, r.home); i >= 0 {
			rest := s[i+len(r.home):]
			if rest == "" || rest[0] == '/' || rest[0] == '\\' {
				s = s[:i] + "~" + rest
			}
		}
	}
	return userDirs.ReplaceAllString(s, "${1}<user>")
}

// indexFold is strings.Index, case-insensitive where file names are
// (Windows, macOS).
func indexFold(s, sub string) int {
	if filepath.Separator == '\\' || strings.HasPrefix(sub, "/Users/") {
		return strings.Index(strings.ToLower(s), strings.ToLower(sub))
	}
	return strings.Index(s, sub)
}

// violation returns v with its summary and evidence redacted (a copy: the
// monitor's own violation is not changed).
func (r redactor) violation(v lockdown.Violation) lockdown.Violation {
	v.Summary = r.text(v.Summary)
	if v.Evidence != nil {
		ev := maps.Clone(v.Evidence)
		for k, val := range ev {
			ev[k] = r.text(val)
		}
		v.Evidence = ev
	}
	return v
}

// resetReport returns rep as it may leave this computer (the
// lockdown.recovered event): the journal's path, each change's summary
// and error, and the undo data's text redacted like violations.
func (r redactor) resetReport(rep journal.ResetReport) journal.ResetReport {
	rep.Path = r.text(rep.Path)
	res := make([]journal.UndoResult, len(rep.Results))
	for i, u := range rep.Results {
		u.Change.Summary = r.text(u.Change.Summary)
		u.Error = r.text(u.Error)
		if len(u.Change.Undo) > 0 {
			// JSON text: a path's backslashes are escaped there, so redact
			// the decoded strings, not the bytes.
			u.Change.Undo = r.json(u.Change.Undo)
		}
		res[i] = u
	}
	rep.Results = res
	return rep
}

// json redacts every string in the JSON value b; b unchanged if it is not
// JSON.
func (r redactor) json(b []byte) []byte {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	var walk func(any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case string:
			return r.text(t)
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
		case map[string]any:
			for k := range t {
				t[k] = walk(t[k])
			}
		}
		return v
	}
	out, err := json.Marshal(walk(v))
	if err != nil {
		return b
	}
	return out
}
