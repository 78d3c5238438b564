package capture

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"syscall"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/driver/availability"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// driverSource reads raw frames from a mediadevices driver that this
// package picked itself (by ID from the driver manager), bypassing
// GetUserMedia: that one opens every registered device to compare their
// modes, may pick the videotest driver when it is linked in, and turns
// every failure into one "not found" error.
type driverSource struct {
	d       driver.Driver
	r       video.Reader
	release func()
}

// driversMu serialises state changes of the drivers this package opens:
// mediadevices' driver wrapper keeps its state in an unguarded field, and
// the manager's drivers are process-wide singletons.
var driversMu sync.Mutex

// openDriverSource opens d, lets choose pick one of its modes and starts
// recording in it. A driver that is already open (another stream of this
// process uses it) gives ErrCameraBusy.
func openDriverSource(d driver.Driver, choose func([]prop.Media) (prop.Media, error)) (*driverSource, prop.Media, error) {
	rec, ok := d.(driver.VideoRecorder)
	if !ok {
		return nil, prop.Media{}, errors.New("driver is not a video recorder")
	}
	driversMu.Lock()
	defer driversMu.Unlock()
	if d.Status() != driver.StateClosed {
		return nil, prop.Media{}, ErrCameraBusy
	}
	if err := d.Open(); err != nil {
		return nil, prop.Media{}, fmt.Errorf("open: %w", err)
	}
	p, err := choose(d.Properties())
	if err != nil {
		d.Close()
		return nil, prop.Media{}, err
	}
	r, err := rec.VideoRecord(p) // the driver wrapper closes d on error
	if err != nil {
		return nil, prop.Media{}, fmt.Errorf("record: %w", err)
	}
	return &driverSource{d: d, r: r}, p, nil
}

func (s *driverSource) Read() (image.Image, error) {
	if s.release != nil {
		s.release()
		s.release = nil
	}
	img, release, err := s.r.Read()
	if err != nil {
		return nil, err
	}
	s.release = release
	return img, nil
}

func (s *driverSource) Close() error {
	if s.release != nil {
		s.release()
		s.release = nil
	}
	driversMu.Lock()
	defer driversMu.Unlock()
	return s.d.Close()
}

// cameraErr maps a driver error to ErrCameraBusy / ErrNoCamera when the
// cause is known, keeping the original in the chain.
func cameraErr(err error) error {
	var errno syscall.Errno
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrCameraBusy), errors.Is(err, ErrNoCamera):
		return err
	case errors.Is(err, availability.ErrBusy),
		errors.As(err, &errno) && (errno == syscall.EBUSY || errno == syscall.EAGAIN):
		return fmt.Errorf("%w: %w", ErrCameraBusy, err)
	case errors.Is(err, availability.ErrNoDevice),
		errors.As(err, &errno) && (errno == syscall.ENOENT || errno == syscall.ENODEV || errno == syscall.ENXIO):
		return fmt.Errorf("%w: %w", ErrNoCamera, err)
	}
	return err
}
