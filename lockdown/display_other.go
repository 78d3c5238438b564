//go:build !(linux || windows || (darwin && cgo))

package lockdown

// readDisplays: kbinani/screenshot needs cgo on macOS and has no backend on
// the other systems; the display check reports unknown there.
func readDisplays() ([]Display, error) { return nil, ErrUnsupported }
