// Command listener is a Windows test program of the Wine stage
// (cmd/invigil/wine_test.go), never shipped: it listens on a VNC port and
// prints it, so that invigil.exe's check sees a remote-access listener
// owned by a Windows process.
package main

import "github.com/invigil/invigil/lockdown/lockdowntest"

func main() { lockdowntest.ListenVNC() }
