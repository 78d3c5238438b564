package main

import (
	"testing"

	"github.com/invigil/invigil/capture/xvfb"
)

// startXvfb starts an Xvfb server with the given screens (e.g.
// "1280x720x24"; two or more are joined with Xinerama) and returns its
// DISPLAY value once it accepts connections.
func startXvfb(t *testing.T, screens ...string) string {
	t.Helper()
	srv, err := xvfb.Start(screens...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv.Display()
}
