//go:build !linux && !windows && !(darwin && cgo)

package lockdown

// On macOS without cgo (kbinani/screenshot needs it there) and on other
// systems the display check reports unknown.
type unsupportedDisplays struct{}

func newDisplayReader() displayReader { return unsupportedDisplays{} }

func (unsupportedDisplays) read() ([]Display, error) { return nil, ErrUnsupported }
func (unsupportedDisplays) close()                   {}
