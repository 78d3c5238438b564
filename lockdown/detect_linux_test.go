package lockdown

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestServesDisplay(t *testing.T) {
	tests := []struct {
		args, display string
		want          bool
	}{
		{"Xvnc :1 -geometry 1280x720", ":1", true},
		{"Xvnc :1 -geometry 1280x720", ":1.0", true},
		{"Xvnc :10", ":1", false},
		{"/usr/lib/xorg/Xorg :0 -auth x", ":0", true},
	}
	for _, tt := range tests {
		if got := servesDisplay(tt.args, tt.display); got != tt.want {
			t.Errorf("servesDisplay(%q, %q) = %v, want %v", tt.args, tt.display, got, tt.want)
		}
	}
}

func TestParseProcNetTCP(t *testing.T) {
	in := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:170C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 100 0 0 10 0
   2: 0100007F:170C 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 100 0 0 10 0
`
	got := parseProcNetTCP([]byte(in))
	want := []listener{{port: 5900, addr: "127.0.0.1", inode: 12345}, {port: 22, addr: "0.0.0.0", inode: 222}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	v6 := "  sl  local_address                         remote_address                        st\n" +
		"   0: 00000000000000000000000001000000:0D3D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1\n"
	if got := parseProcNetTCP([]byte(v6)); len(got) != 1 || got[0].addr != "::1" || got[0].port != 3389 {
		t.Errorf("v6: got %+v", got)
	}
}

// ClearClipboard runs the installed tool; here a fake xsel records its
// arguments.
func TestClearClipboard(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "args")
	script := "#!/bin/sh\necho \"$@\" > " + log + "\n"
	if err := os.WriteFile(filepath.Join(dir, "xsel"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	t.Setenv("DISPLAY", ":99")
	t.Setenv("WAYLAND_DISPLAY", "")
	if err := ClearClipboard(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(log); strings.TrimSpace(string(b)) != "--clipboard --clear" {
		t.Errorf("xsel called with %q", b)
	}
	t.Setenv("PATH", t.TempDir())
	if err := ClearClipboard(context.Background()); !errors.Is(err, ErrUnsupported) {
		t.Errorf("no tool: %v, want ErrUnsupported", err)
	}
}
