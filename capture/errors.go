package capture

import (
	"errors"
	"fmt"
)

// Sentinel errors a caller branches on. Everything else is wrapped context.
var (
	// ErrNoCamera means no camera matches the request: none is attached, or
	// the requested device ID is unknown or was unplugged.
	ErrNoCamera = errors.New("capture: no camera")
	// ErrCameraBusy means the camera exists but another program (or another
	// stream in this process) is using it.
	ErrCameraBusy = errors.New("capture: camera busy")
	// ErrNoDisplay means no display can be captured: no X server / desktop
	// session, or the requested display index does not exist.
	ErrNoDisplay = errors.New("capture: no display")
	// ErrSourceLost means a source stopped delivering frames after it had
	// started (camera unplugged, X server gone). Read returns it, wrapped.
	ErrSourceLost = errors.New("capture: source lost")
	// ErrClosed is returned by Read and Snapshot after Close.
	ErrClosed = errors.New("capture: stream closed")
	// ErrUnsupported means this build (OS, architecture or cgo off) cannot
	// do what was asked. It wraps errors.ErrUnsupported, as
	// lockdown.ErrUnsupported does.
	ErrUnsupported = fmt.Errorf("capture: unsupported on this platform or build: %w", errors.ErrUnsupported)
)
