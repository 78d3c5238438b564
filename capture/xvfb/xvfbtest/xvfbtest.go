// Package xvfbtest starts an Xvfb for a test and stops it at the test's
// cleanup. It does not import testing, which no package of the module may
// outside its tests: Start takes the part of testing.TB it uses.
package xvfbtest

import "github.com/invigil/invigil/capture/xvfb"

// TB is the part of testing.TB that Start uses; *testing.T and *testing.B
// satisfy it.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// Start starts an Xvfb with the given screens (e.g. "1280x720x24"; two or
// more are joined with Xinerama; none is one 1280x720x24), stops it at
// cleanup and returns its DISPLAY value (":N") once it accepts
// connections. It fails the test if Xvfb cannot start, a missing Xvfb
// included: CI installs it. It leaves DISPLAY alone; a test that needs it
// set calls t.Setenv("DISPLAY", display).
func Start(tb TB, screens ...string) string {
	tb.Helper()
	srv, err := xvfb.Start(screens...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	return srv.Display()
}
