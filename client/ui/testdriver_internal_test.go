//go:build invigil_uitest

package ui

import (
	"path/filepath"
	"testing"
)

func TestListenDriver(t *testing.T) {
	for _, bad := range []string{"tcp:0.0.0.0:0", "tcp:192.0.2.1:0", "tcp::0", "tcp:localhost", "tcp:example.com:80"} {
		if ln, err := listenDriver(bad); err == nil {
			ln.Close()
			t.Errorf("listenDriver(%q) listened; want only loopback TCP", bad)
		}
	}
	for _, good := range []string{"tcp:127.0.0.1:0", filepath.Join(t.TempDir(), "d.sock")} {
		ln, err := listenDriver(good)
		if err != nil {
			t.Errorf("listenDriver(%q): %v", good, err)
			continue
		}
		ln.Close()
	}
}
