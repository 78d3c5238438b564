package exam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/invigil/invigil/capture"
	"github.com/invigil/invigil/transport"
)

// Media carries the camera and screen streams into a Session: one pump
// goroutine per stream, and the adaptive-bitrate controller watching the
// session's upload backlog. It owns the streams and closes them.
type Media struct {
	sess   *Session
	cam    *capture.Stream
	scr    *capture.Stream
	abr    *capture.ABR
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	err  error // the first capture or spool failure
	once sync.Once
}

// MediaOptions says what to stream. Either stream may be nil.
type MediaOptions struct {
	Camera, Screen *capture.Stream
	ABR            capture.ABRConfig
	Log            *slog.Logger
}

// StartMedia starts streaming. Capture starts only after consent: the
// caller opens the streams then.
func StartMedia(sess *Session, opts MediaOptions) *Media {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Media{sess: sess, cam: opts.Camera, scr: opts.Screen, log: opts.Log, cancel: cancel}
	var camT, scrT capture.Tunable
	if m.cam != nil {
		camT = m.cam
		m.wg.Go(func() { m.pump(ctx, m.cam, transport.TrackCamera) })
	}
	if m.scr != nil {
		scrT = m.scr
		m.wg.Go(func() { m.pump(ctx, m.scr, transport.TrackScreen) })
	}
	if camT != nil || scrT != nil {
		m.abr = capture.NewABR(sess.Backlog, camT, scrT, opts.ABR, opts.Log)
		m.wg.Go(func() { m.abr.Run(ctx) })
	}
	return m
}

func (m *Media) pump(ctx context.Context, s *capture.Stream, track uint8) {
	name := transport.TrackName(track)
	for {
		f, err := s.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.fail(fmt.Errorf("%s capture: %w", name, err))
			m.sess.Event("capture.error", map[string]any{"track": name, "error": err.Error()})
			return
		}
		var flags transport.Flags
		if f.Keyframe {
			flags |= transport.FlagKeyframe
		}
		if err := m.sess.Send(transport.Message{Kind: transport.KindMedia, Flags: flags, Track: track, Time: f.Time, Payload: f.Data}); err != nil {
			m.fail(err)
			m.cancel() // the spool cannot take more: stop every capture
			return
		}
	}
}

func (m *Media) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil {
		m.err = err
		m.log.Error("media stopped", "err", err)
	}
}

// Err is the failure that stopped a stream, if any.
func (m *Media) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// ABR returns the adaptive-bitrate state (nil without streams).
func (m *Media) ABR() *capture.ABR { return m.abr }

// StillWidth is the widest a still is sent (ID photo, room scan, a
// proctor's snapshot request); smaller pictures are sent as they are.
const StillWidth = 1280

// Snapshot sends a JPEG still of the camera (or, without one, the screen)
// on the stills track, and a snapshot event naming why (a proctor's command
// id, "id_photo", "room_scan"). It returns the JPEG for the UI.
func (m *Media) Snapshot(ctx context.Context, why string) ([]byte, error) {
	s := m.cam
	source := "camera"
	if s == nil {
		s, source = m.scr, "screen"
	}
	if s == nil {
		return nil, errors.New("snapshot: nothing is being captured")
	}
	jpg, err := s.Snapshot(ctx, StillWidth)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if _, err := m.sess.SendStill(jpg, source, why); err != nil {
		return nil, err
	}
	return jpg, nil
}

// Close stops the pumps and the controller and closes the streams. It is
// idempotent.
func (m *Media) Close() error {
	var err error
	m.once.Do(func() {
		m.cancel()
		m.wg.Wait()
		for _, s := range []*capture.Stream{m.cam, m.scr} {
			if s != nil {
				err = errors.Join(err, s.Close())
			}
		}
	})
	return err
}
