package exam

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/lockdown/journal"
)

func TestRedactEvidence(t *testing.T) {
	r := redactor{home: "/srv/people/alice"}
	tests := []struct{ in, want string }{
		{"/home/bob/Downloads/AnyDesk", "/home/<user>/Downloads/AnyDesk"},
		{"/Users/Carol Smith/Applications/TeamViewer.app", "/Users/<user>/Applications/TeamViewer.app"},
		{`C:\Users\dave\AppData\Local\AnyDesk.exe`, `C:\Users\<user>\AppData\Local\AnyDesk.exe`},
		{`d:\users\Eve\x.exe`, `d:\users\<user>\x.exe`},
		{"/srv/people/alice/bin/vnc", "~/bin/vnc"},
		{"/srv/people/alicex/bin/vnc", "/srv/people/alicex/bin/vnc"},
		{"/usr/bin/anydesk", "/usr/bin/anydesk"},
		{"AnyDesk (pid 4242) is running from /home/bob/x", "AnyDesk (pid 4242) is running from /home/<user>/x"},
	}
	for _, tt := range tests {
		if got := r.text(tt.in); got != tt.want {
			t.Errorf("text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	v := lockdown.Violation{Summary: "AnyDesk in /home/bob", Evidence: map[string]string{"exe": "/home/bob/AnyDesk", "pid": "42"}}
	got := r.violation(v)
	if got.Evidence["exe"] != "/home/<user>/AnyDesk" || got.Evidence["pid"] != "42" || got.Summary != "AnyDesk in /home/<user>" {
		t.Errorf("violation %+v", got)
	}
	if v.Evidence["exe"] != "/home/bob/AnyDesk" {
		t.Error("the monitor's own violation was changed")
	}
}

// The lockdown.recovered event (a crashed run's changes undone at start)
// names the journal's path and files in the student's home: they leave
// the computer redacted like violations.
func TestRedactResetReport(t *testing.T) {
	r := redactor{home: "/srv/people/alice"}
	rep := journal.ResetReport{
		Path:  "/srv/people/alice/.cache/invigil/lockdown.journal",
		Found: true,
		Results: []journal.UndoResult{{
			Change: journal.Change{Kind: "file.restore", Summary: `replaced C:\Users\alice\AppData\x.ini`,
				Undo: json.RawMessage(`{"path":"C:\\Users\\alice\\AppData\\x.ini","n":3}`)},
			Outcome: "failed", Error: "open /home/bob/y: permission denied",
		}},
	}
	got := r.resetReport(rep)
	b, _ := json.Marshal(got)
	for _, name := range []string{"alice", "bob"} {
		if strings.Contains(string(b), name) {
			t.Errorf("redacted report still names %s: %s", name, b)
		}
	}
	if got.Path != "~/.cache/invigil/lockdown.journal" || !strings.Contains(string(got.Results[0].Change.Undo), `"n":3`) {
		t.Errorf("report %s", b)
	}
	if rep.Results[0].Error != "open /home/bob/y: permission denied" {
		t.Error("the caller's report was changed")
	}
}
