// Package flowtest fakes the world a client.Flow talks to (the backend,
// lockdown, the camera) so that tests of the flow and of the UI can walk
// every screen quickly, without a backend, a camera or a display. It does
// not import testing.
package flowtest
