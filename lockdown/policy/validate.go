package policy

import (
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Validate checks ranges, enumerations, patterns and digests. Parse calls
// it; a policy built in Go (a test, the backend's editor) can call it too.
func (p *Policy) Validate() error {
	var v validator
	if p.Version != Version {
		v.add("version", "is %d, this build understands %d", p.Version, Version)
	}
	if len(p.Name) > 200 {
		v.add("name", "is %d bytes long, at most 200", len(p.Name))
	}
	if p.MinClientVersion != "" {
		if _, ok := parseRelease(p.MinClientVersion, false); !ok {
			v.add("min_client_version", "is %q, want a release such as 1.2 or 1.2.3", p.MinClientVersion)
		}
	}
	p.ExamBrowser.validate(&v)
	ids := map[string]bool{}
	for i, r := range p.Processes.Prohibited {
		at := fmt.Sprintf("processes.prohibited[%d]", i)
		if r.ID != "" {
			at += " (" + r.ID + ")"
		}
		switch {
		case r.ID == "":
			v.add(at+".id", "is empty")
		case !validID(r.ID):
			v.add(at+".id", "%q: use lower-case letters, digits, '.', '_' and '-'", r.ID)
		case ids[r.ID]:
			v.add(at+".id", "%q is used twice", r.ID)
		}
		ids[r.ID] = true
		if strings.TrimSpace(r.Name) == "" {
			v.add(at+".name", "is empty")
		}
		if !slices.Contains(Categories, r.Category) {
			v.add(at+".category", "is %q, want one of %s", r.Category, strings.Join(Categories, ", "))
		}
		if r.Action != Flag && r.Action != Block {
			v.add(at+".action", "is %q, want flag or block (to permit a program, list it under processes.allowed)", r.Action)
		}
		if r.Names.empty() && len(r.SHA256) == 0 {
			v.add(at, "has neither names nor sha256: it can match nothing")
		}
		v.patterns(at+".names", r.Names)
		v.digests(at+".sha256", r.SHA256)
	}
	for i, r := range p.Processes.Allowed {
		at := fmt.Sprintf("processes.allowed[%d]", i)
		if strings.TrimSpace(r.Name) == "" {
			v.add(at+".name", "is empty")
		}
		if r.Names.empty() && len(r.SHA256) == 0 {
			v.add(at, "has neither names nor sha256: it can match nothing")
		}
		v.patterns(at+".names", r.Names)
		v.digests(at+".sha256", r.SHA256)
	}
	for i, r := range p.RemotePorts {
		at := fmt.Sprintf("remote_ports[%d]", i)
		if strings.TrimSpace(r.Name) == "" {
			v.add(at+".name", "is empty")
		}
		if r.Port < 1 || r.Port > 65535 {
			v.add(at+".port", "is %d, want 1 to 65535", r.Port)
		}
		if r.To != 0 && (r.To < r.Port || r.To > 65535) {
			v.add(at+".to", "is %d, want %d to 65535 (or leave it out for one port)", r.To, r.Port)
		}
		if r.Action != Flag && r.Action != Block {
			v.add(at+".action", "is %q, want flag or block", r.Action)
		}
	}
	if p.Displays.Max < 1 || p.Displays.Max > 16 {
		v.add("displays.max", "is %d, want 1 to 16", p.Displays.Max)
	}
	v.action("displays.action", p.Displays.Action)
	v.action("virtual_machine", p.VirtualMachine)
	v.action("remote_session", p.RemoteSession)
	v.action("virtual_camera.action", p.VirtualCamera.Action)
	for i, l := range p.VirtualCamera.Labels {
		if strings.TrimSpace(l) == "" {
			v.add(fmt.Sprintf("virtual_camera.labels[%d]", i), "is empty")
		}
	}
	switch p.Clipboard {
	case ClipboardAllow, ClipboardClear, ClipboardBlock:
	default:
		v.add("clipboard", "is %q, want allow, clear or block", p.Clipboard)
	}
	v.action("focus_loss.action", p.FocusLoss.Action)
	if p.FocusLoss.GraceMS < 0 || p.FocusLoss.GraceMS > 60000 {
		v.add("focus_loss.grace_ms", "is %d, want 0 to 60000", p.FocusLoss.GraceMS)
	}
	p.validateAllowedApps(&v)
	v.action("hidden_windows", p.HiddenWindows)
	v.action("kiosk.windows_key", p.Kiosk.WindowsKey)
	v.action("kiosk.print_screen", p.Kiosk.PrintScreen)
	v.action("kiosk.app_switch", p.Kiosk.AppSwitch)
	v.patterns("kiosk.switch_to", p.Kiosk.SwitchTo)
	switch p.Enforcement.Terminate {
	case TerminateNever, TerminateAsk, TerminateAuto:
	default:
		v.add("enforcement.terminate", "is %q, want never, ask or auto", p.Enforcement.Terminate)
	}
	if p.Enforcement.GraceSeconds < 1 || p.Enforcement.GraceSeconds > 60 {
		v.add("enforcement.grace_seconds", "is %d, want 1 to 60", p.Enforcement.GraceSeconds)
	}
	v.stream("capture.camera", p.Capture.Camera)
	v.stream("capture.screen", p.Capture.Screen)
	if p.Privacy.RetentionDays < 1 || p.Privacy.RetentionDays > 3650 {
		v.add("privacy.retention_days", "is %d, want 1 to 3650", p.Privacy.RetentionDays)
	}
	if len(p.Privacy.Captured) == 0 && (p.Capture.Camera.Enabled || p.Capture.Screen.Enabled) {
		v.add("privacy.captured", "is empty while capture is on: the student must be told what is recorded")
	}
	if len(p.Privacy.Viewers) == 0 {
		v.add("privacy.viewers", "is empty: the student must be told who sees the recordings")
	}
	if p.Privacy.Notice != "" {
		if _, err := parseNotice(p.Privacy.Notice); err != nil {
			v.add("privacy.notice", "%v", err)
		}
	}
	return v.err()
}

type validator struct{ problems []string }

func (v *validator) add(at, format string, args ...any) {
	v.problems = append(v.problems, at+": "+fmt.Sprintf(format, args...))
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	if len(v.problems) == 1 {
		return fmt.Errorf("invalid policy: %s", v.problems[0])
	}
	return fmt.Errorf("invalid policy (%d problems):\n  %s", len(v.problems), strings.Join(v.problems, "\n  "))
}

func (v *validator) action(at string, a Action) {
	if !a.valid() {
		v.add(at, "is %q, want allow, flag or block", a)
	}
}

func (v *validator) patterns(at string, l OSList) {
	for _, part := range []struct {
		os  string
		pat []string
	}{{"all", l.All}, {"linux", l.Linux}, {"windows", l.Windows}, {"darwin", l.Darwin}} {
		for i, pat := range part.pat {
			where := fmt.Sprintf("%s.%s[%d]", at, part.os, i)
			switch {
			case strings.TrimSpace(pat) == "":
				v.add(where, "is empty")
			case len(pat) > 255:
				v.add(where, "is %d bytes long, at most 255", len(pat))
			case strings.ContainsAny(pat, `/\`):
				v.add(where, "%q contains a path separator: patterns match process names, not paths", pat)
			default:
				if _, err := path.Match(strings.ToLower(pat), ""); err != nil {
					v.add(where, "%q is not a valid glob: %v", pat, err)
				}
			}
		}
	}
}

func (v *validator) digests(at string, hs []string) {
	for i, h := range hs {
		if _, err := hex.DecodeString(h); err != nil || len(h) != 64 {
			v.add(fmt.Sprintf("%s[%d]", at, i), "%q is not a SHA-256 digest (want 64 hex digits)", h)
		}
	}
}

func (v *validator) stream(at string, s Stream) {
	if !s.Enabled {
		return
	}
	if (s.Width == 0) != (s.Height == 0) {
		v.add(at, "width %d and height %d: set both, or both to 0 for the source's own size", s.Width, s.Height)
	}
	if s.Width != 0 && (s.Width < 160 || s.Width > 7680) {
		v.add(at+".width", "is %d, want 160 to 7680 (or 0)", s.Width)
	}
	if s.Height != 0 && (s.Height < 120 || s.Height > 4320) {
		v.add(at+".height", "is %d, want 120 to 4320 (or 0)", s.Height)
	}
	if !(s.FPS > 0 && s.FPS <= 60) {
		v.add(at+".fps", "is %g, want more than 0 and at most 60", s.FPS)
	}
	if s.BitrateKbps < 20 || s.BitrateKbps > 20000 {
		v.add(at+".bitrate_kbps", "is %d, want 20 to 20000", s.BitrateKbps)
	}
	if s.KeyframeIntervalS < 0.5 || s.KeyframeIntervalS > 300 {
		v.add(at+".keyframe_interval_s", "is %g, want 0.5 to 300", s.KeyframeIntervalS)
	}
}

func validID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// MatchName reports whether the process name matches pattern: equal, ignoring
// case, or, when the pattern has any of "*?[", a path.Match glob over the
// lower-cased name. A name ending in ".exe" also matches without it, so
// "anydesk" catches "AnyDesk.exe".
func MatchName(pattern, name string) bool {
	pattern, name = strings.ToLower(pattern), strings.ToLower(name)
	if matchOne(pattern, name) {
		return true
	}
	if base, ok := strings.CutSuffix(name, ".exe"); ok && !strings.HasSuffix(pattern, ".exe") {
		return matchOne(pattern, base)
	}
	return false
}

func matchOne(pattern, name string) bool {
	if !strings.ContainsAny(pattern, "*?[") {
		return pattern == name
	}
	ok, _ := path.Match(pattern, name)
	return ok
}
