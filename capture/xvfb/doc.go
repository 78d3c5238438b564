// Package xvfb starts virtual X servers (Xvfb) for tests and benchmarks that
// need a real display: screen capture, display detection, UI screenshots.
//
// It picks the display number itself instead of using `Xvfb -displayfd`: a
// killed Xvfb leaves /tmp/.X11-unix/XN behind, and with several test
// packages starting servers at once -displayfd was seen here to report a
// number that nobody could connect to. Start returns only once the server
// accepts connections.
package xvfb
