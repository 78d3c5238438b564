package main

import (
	"os"
	"runtime/debug"

	"github.com/invigil/invigil/capture"
)

// tuneMemory sets a soft memory limit for the Go heap unless GOMEMLIMIT is
// set. Screen capture makes a new full-screen image every frame (the X11
// driver copies 8 MB per 1080p frame), so with the default GOGC the heap
// doubles past its ~35 MB live set before each collection and the client
// reached 170 MB RSS streaming a synthetic webcam and a 1080p screen. A
// limit of 40 MiB plus three screens' worth of RGBA keeps it near 140 MB at
// about one point of CPU (bench/client); it scales with the display so a 4K
// screen does not make the collector run back to back. It reads the
// displays, so it runs once capture is certain: after the headless run
// opened a screen stream, or once the desktop app holds its instance.
func tuneMemory() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	var pixels int64
	if ds, err := capture.Displays(); err == nil {
		for _, d := range ds {
			pixels += int64(d.Bounds.Dx()) * int64(d.Bounds.Dy())
		}
	}
	debug.SetMemoryLimit(40<<20 + 3*4*pixels)
}
