package client

import (
	"testing"

	"github.com/invigil/invigil/lockdown"
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
