package xvfb

import (
	"errors"
	"net"
	"strings"
	"testing"
)

func TestStartTwoScreens(t *testing.T) {
	s, err := Start("640x480x24", "640x480x24")
	if errors.Is(err, ErrNotInstalled) {
		t.Fatal(err) // CI installs it: a missing Xvfb is a broken setup, not a skip
	}
	if err != nil {
		t.Fatal(err)
	}
	sock := "/tmp/.X11-unix/X" + strings.TrimPrefix(s.Display(), ":")
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("dial %s: %v", sock, err)
	}
	c.Close()
	s.Close()
	s.Close()
	if _, err := net.Dial("unix", sock); err == nil {
		t.Error("still accepting after Close")
	}
}
