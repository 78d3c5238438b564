package exambrowser

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestFind(t *testing.T) {
	env := map[string]string{
		"ProgramFiles": `C:\Program Files`, "ProgramFiles(x86)": `C:\Program Files (x86)`,
		"LocalAppData": `C:\Users\s\AppData\Local`, "HOME": "/Users/s",
	}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		goos      string
		installed []string // paths that exist
		inPath    []string // names exec.LookPath finds (in /usr/local/bin)
		want      string
	}{
		{"linux", []string{"/usr/bin/chromium"}, []string{"google-chrome"}, "/usr/bin/chromium"},
		{"linux", nil, []string{"google-chrome", "microsoft-edge"}, "/usr/local/bin/google-chrome"},
		{"linux", nil, []string{"microsoft-edge-stable"}, "/usr/local/bin/microsoft-edge-stable"},
		{"linux", []string{"/snap/bin/chromium", "/opt/google/chrome/chrome"}, nil, "/snap/bin/chromium"},
		{"linux", nil, nil, ""},
		{"windows", []string{`C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe`}, nil, `C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe`},
		{"windows", []string{`C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe`, `C:\Users\s\AppData\Local\Google\Chrome\Application\chrome.exe`}, nil,
			`C:\Users\s\AppData\Local\Google\Chrome\Application\chrome.exe`},
		{"darwin", []string{"/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge", "/Users/s/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"}, nil,
			"/Users/s/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"},
	}
	for _, tt := range tests {
		exists := func(p string) bool {
			for _, i := range tt.installed {
				if i == p {
					return true
				}
			}
			return false
		}
		lookPath := func(name string) (string, error) {
			for _, n := range tt.inPath {
				if n == name {
					return "/usr/local/bin/" + name, nil
				}
			}
			return "", errors.New("not found")
		}
		got, err := find(tt.goos, getenv, exists, lookPath)
		if tt.want == "" {
			if !errors.Is(err, ErrNoBrowser) {
				t.Errorf("%s %v: find = %q, %v; want ErrNoBrowser", tt.goos, tt.installed, got, err)
			}
			continue
		}
		if got != tt.want || err != nil {
			t.Errorf("%s %v %v: find = %q, %v; want %q", tt.goos, tt.installed, tt.inPath, got, err, tt.want)
		}
	}
}

func TestUsesDir(t *testing.T) {
	dir := "/home/s/.cache/invigil/exam-browser/profile-12/data"
	tests := []struct {
		cmdline string
		want    bool
	}{
		{"/usr/lib/chromium/chromium --type=renderer --user-data-dir=" + dir + " --lang=en", true},
		{"/usr/lib/chromium/chromium --user-data-dir=" + dir, true},
		{`chrome.exe --user-data-dir="` + dir + `" --type=gpu-process`, true},
		{"chrome_crashpad_handler --database=" + dir + "/Crash Reports", true},
		{"chromium --user-data-dir=" + dir + "3", false},
		{"chromium --user-data-dir=/tmp/other", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := usesDir(tt.cmdline, dir); got != tt.want {
			t.Errorf("usesDir(%q) = %v, want %v", tt.cmdline, got, tt.want)
		}
	}
	if usesDir("anything", "") {
		t.Error("an empty dir matches")
	}
}

func TestEventQueueHoldsBackRepeats(t *testing.T) {
	var got []string
	q := newEventQueue(func(name string, d map[string]any) {
		got = append(got, name+" "+d["url"].(string)+" "+strings.Repeat("+", toInt(d["repeats"])))
	})
	now := time.Unix(1000, 0)
	q.now = func() time.Time { return now }
	q.emit(EventWindowBlocked, map[string]any{"url": "a"})
	q.emit(EventWindowBlocked, map[string]any{"url": "a"})
	q.emit(EventWindowBlocked, map[string]any{"url": "a"})
	q.emit(EventWindowBlocked, map[string]any{"url": "b"})
	q.emit(EventNavigationBlocked, map[string]any{"url": "a"})
	q.emit(EventClosed, map[string]any{"url": "", "reason": "crashed"})
	q.emit(EventClosed, map[string]any{"url": "", "reason": "window_closed"})
	now = now.Add(repeatWindow)
	q.emit(EventWindowBlocked, map[string]any{"url": "a"})
	q.close()
	want := []string{
		EventWindowBlocked + " a ", EventWindowBlocked + " b ", EventNavigationBlocked + " a ",
		EventClosed + "  ", EventClosed + "  ", // never held back
		EventWindowBlocked + " a ++",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("delivered\n%q\nwant\n%q", got, want)
	}
}

func toInt(v any) int {
	n, _ := v.(int)
	return n
}

func FuzzParsePageReport(f *testing.F) {
	f.Add(`{"kind":"window.open","url":"https://x.example/"}`)
	f.Add(`{"kind":"print"}`)
	f.Add(`[1,2]`)
	f.Fuzz(func(t *testing.T, payload string) {
		r, ok := parsePageReport(payload)
		if !ok && (r.Kind != "" || r.URL != "") {
			t.Errorf("a refused report has fields: %+v", r)
		}
	})
}

func FuzzReadOwner(f *testing.F) {
	f.Add([]byte(`{"client_pid": 12, "client_started_ms": 1700000000000, "browser_pid": 13}`))
	f.Add([]byte(`{"client_pid": "x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := decodeOwner(bytes.NewReader(b))
		if err != nil && o != (owner{}) {
			t.Errorf("a refused owner.json gave %+v", o)
		}
	})
}

// BenchmarkPIDs is the cost of Browser.PIDs (a walk of the process table),
// which focus attribution may call on every focus change.
func BenchmarkPIDs(b *testing.B) {
	pid := os.Getpid()
	for b.Loop() {
		treeOf(context.Background(), pid, "/nonexistent/profile/data")
	}
}
