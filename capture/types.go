package capture

import (
	"image"
	"time"
)

// Frame is one encoded video frame. The caller owns Data: the stream never
// touches it again after Read returns it.
type Frame struct {
	// Data is one H.264 access unit in Annex-B format (start codes). On
	// keyframes it starts with SPS and PPS, so a decoder (or a late viewer,
	// or a recording cut) can start there.
	Data []byte
	// Keyframe reports an IDR access unit.
	Keyframe bool
	// Time is the capture time (wall clock) of the raw frame this access
	// unit was encoded from. It is derived from the monotonic clock, so it
	// strictly increases within a stream even if the wall clock is stepped.
	Time time.Time
	// Width and Height are the coded picture size.
	Width, Height int
}

// Device is a camera as the OS reports it.
type Device struct {
	// ID is stable while the device stays plugged in the same port; pass it
	// as Config.Source. (Linux: "<by-path or by-id name>;video0"; Windows:
	// the DirectShow device path; macOS: the AVFoundation unique ID.)
	ID string
	// Name is the human-readable name the driver reports, e.g.
	// "Integrated Camera" or "OBS Virtual Camera".
	Name string
	// Bus is extra identification when the OS gives it (Linux: V4L2
	// bus_info, e.g. "usb-0000:00:14.0-6" or "platform:v4l2loopback-000").
	Bus string
	// Virtual reports a software ("virtual") camera recognised from Name and
	// Bus; VirtualReason says which rule matched. It is a heuristic: a
	// renamed virtual camera passes, so lockdown treats it as evidence.
	Virtual       bool
	VirtualReason string
}

// Display is one monitor.
type Display struct {
	// Index is the number to pass as Config.Source (as a string: "0", "1").
	// Display 0 is the primary display.
	Index int
	// Bounds is the display's rectangle on the virtual desktop.
	Bounds image.Rectangle
}

// Stats counts what happened to the frames of a stream since it opened.
type Stats struct {
	Captured     int64 // raw frames read from the source
	Paced        int64 // raw frames dropped to hold the frame rate
	Backpressure int64 // raw frames not encoded because Read fell behind
	OverBudget   int64 // raw frames dropped by the frame dropper (bitrate ceiling)
	Skipped      int64 // frames the encoder's rate control chose to skip
	Encoded      int64 // encoded frames delivered to the output queue
	Keyframes    int64
	Bytes        int64 // encoded bytes delivered
	// EncoderKbps is the bitrate currently asked of the encoder after the
	// stream's rate correction and frame-rate scaling (see doc.go).
	EncoderKbps int
}
