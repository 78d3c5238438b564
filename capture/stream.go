package capture

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// rawSource is a video source the stream pulls raw frames from: a
// mediadevices driver's video.Reader, or a synthetic generator.
type rawSource interface {
	// Read blocks until the next frame. The image stays valid until the
	// next Read or Close; the stream converts it before reading again.
	Read() (image.Image, error)
	// Close releases the device. The stream calls it once, after its
	// goroutine has stopped reading.
	Close() error
}

// sourceSpec describes an opened source to newStream.
type sourceSpec struct {
	kind      string // "camera" or "screen", for logs and errors
	src       rawSource
	crop      image.Rectangle // part of each raw frame to encode; empty: all
	fullRange bool            // YCbCr in JPEG full range (MJPEG cameras)
	screen    bool            // use the encoder's screen-content mode
}

// outQueue is how many encoded frames wait for Read before the stream
// stops encoding new ones (2 s of camera at 15 fps).
const outQueue = 32

// Stream captures one source, encodes it to H.264 and hands out the access
// units through Read. One goroutine, owned by the Stream, reads the source
// and runs the encoder; Close stops and waits for it.
//
// When the reader falls behind, the stream stops encoding (it drops raw
// frames, never encoded ones), so the H.264 stream stays decodable.
type Stream struct {
	kind string
	cfg  Config
	log  *slog.Logger
	spec sourceSpec

	out  chan Frame
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the goroutine has returned
	err  error         // why the goroutine returned; read after done

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool

	forceKey atomic.Bool
	ctlMu    sync.Mutex
	ctlGen   uint64 // bumped on every SetBitrate / SetFrameRate
	ctlKbps  int
	ctlFPS   float64

	frameMu   sync.RWMutex
	latest    *image.YCbCr // last admitted raw frame, I420; read-only once published
	firstSeen chan struct{}
	firstOnce sync.Once

	stats struct {
		captured, paced, backpressure, overBudget, skipped, encoded, keyframes, bytes atomic.Int64
		encoderKbps                                                                   atomic.Int64
	}
}

func newStream(cfg Config, spec sourceSpec, log *slog.Logger) *Stream {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stream{
		kind:      spec.kind,
		cfg:       cfg,
		log:       log.With("kind", spec.kind),
		spec:      spec,
		out:       make(chan Frame, outQueue),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		ctlKbps:   cfg.BitrateKbps,
		ctlFPS:    cfg.FPS,
		firstSeen: make(chan struct{}),
	}
	go s.run()
	return s
}

// Read returns the next encoded frame, blocking until one is ready, ctx
// ends, or the stream ends. The caller owns Frame.Data. After Close it
// returns ErrClosed; when the source fails it returns an error wrapping
// ErrSourceLost (after the frames already encoded).
func (s *Stream) Read(ctx context.Context) (Frame, error) {
	if s.closed.Load() {
		return Frame{}, ErrClosed
	}
	select {
	case f := <-s.out:
		return f, nil
	default:
	}
	select {
	case f := <-s.out:
		return f, nil
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	case <-s.done:
		select {
		case f := <-s.out:
			return f, nil
		default:
		}
		if s.closed.Load() {
			return Frame{}, ErrClosed
		}
		return Frame{}, s.err
	}
}

// SetBitrate changes the target bitrate from the next frame on. It is
// clamped to the limits of Config.
func (s *Stream) SetBitrate(kbps int) {
	kbps = min(max(kbps, minKbps), maxKbps)
	s.ctlMu.Lock()
	s.ctlKbps = kbps
	s.ctlGen++
	s.ctlMu.Unlock()
}

// SetFrameRate changes the encoded frame rate. A source slower than fps
// limits the rate; the bitrate target is kept (the encoder's request is
// rescaled).
func (s *Stream) SetFrameRate(fps float64) {
	fps = min(max(fps, minFPS), maxFPS)
	s.ctlMu.Lock()
	s.ctlFPS = fps
	s.ctlGen++
	s.ctlMu.Unlock()
}

// ForceKeyframe makes the next encoded frame a keyframe.
func (s *Stream) ForceKeyframe() { s.forceKey.Store(true) }

// Bitrate and FrameRate return the current targets.
func (s *Stream) Bitrate() int {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	return s.ctlKbps
}

// FrameRate returns the current frame-rate target.
func (s *Stream) FrameRate() float64 {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	return s.ctlFPS
}

// Config returns the stream's configuration as validated at open, with
// defaults filled in.
func (s *Stream) Config() Config { return s.cfg }

// Stats returns counters since the stream opened.
func (s *Stream) Stats() Stats {
	return Stats{
		Captured:     s.stats.captured.Load(),
		Paced:        s.stats.paced.Load(),
		Backpressure: s.stats.backpressure.Load(),
		OverBudget:   s.stats.overBudget.Load(),
		Skipped:      s.stats.skipped.Load(),
		Encoded:      s.stats.encoded.Load(),
		Keyframes:    s.stats.keyframes.Load(),
		Bytes:        s.stats.bytes.Load(),
		EncoderKbps:  int(s.stats.encoderKbps.Load()),
	}
}

// Snapshot returns a JPEG of the latest captured frame, scaled down to at
// most maxWidth pixels wide (0: full size). It waits for the first frame if
// none has arrived yet.
func (s *Stream) Snapshot(ctx context.Context, maxWidth int) ([]byte, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	select {
	case <-s.firstSeen:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		select {
		case <-s.firstSeen:
		default:
			if s.closed.Load() {
				return nil, ErrClosed
			}
			return nil, s.err
		}
	}
	s.frameMu.RLock()
	img := cloneI420(s.latest)
	s.frameMu.RUnlock()
	b, err := encodeJPEG(img, maxWidth)
	if err != nil {
		return nil, fmt.Errorf("%s snapshot: %w", s.kind, err)
	}
	return b, nil
}

func cloneI420(src *image.YCbCr) *image.YCbCr {
	dst := *src
	dst.Y = append([]byte(nil), src.Y...)
	dst.Cb = append([]byte(nil), src.Cb...)
	dst.Cr = append([]byte(nil), src.Cr...)
	return &dst
}

// Close stops the stream, waits for its goroutine and releases the source
// and the encoder. It is idempotent. A source read in progress finishes
// first (at most one frame period; a V4L2 camera that stopped delivering
// returns within its 5 s read timeout).
func (s *Stream) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.done
		if err := s.spec.src.Close(); err != nil {
			s.closeErr = fmt.Errorf("close %s source: %w", s.kind, err)
		}
	})
	return s.closeErr
}

// run is the stream's goroutine: read, pace, convert, encode, queue.
func (s *Stream) run() {
	defer close(s.done)
	var enc videoEncoder
	defer func() {
		if enc != nil {
			if err := enc.Close(); err != nil {
				s.log.Warn("capture encoder close failed", "err", err)
			}
		}
	}()

	var (
		gen      uint64
		kbps     = s.cfg.BitrateKbps
		fps      = s.cfg.FPS
		pace     = newPacer(fps)
		rc       = newRateCorrector(s.cfg.KeyframeInterval)
		bucket   frameDropper
		encFPS   float64 // frame rate the current encoder was built for
		encBps   int     // what the current encoder was last asked for
		spare    *image.YCbCr
		start    = time.Now()
		last     time.Time
		lastKey  time.Time
		encW     int
		encH     int
		reported bool
	)
	applyRate := func() {
		bps := max(rc.encoderBps(kbps*1000, fps, encFPS), minKbps*1000)
		if bps == encBps {
			return
		}
		if err := enc.SetBitrate(bps); err != nil {
			s.log.Warn("capture set bitrate failed", "err", err)
			return
		}
		encBps = bps
		s.stats.encoderKbps.Store(int64(bps / 1000))
	}

	for {
		select {
		case <-s.stop:
			s.err = ErrClosed
			return
		default:
		}
		img, err := s.spec.src.Read()
		if err != nil {
			s.err = fmt.Errorf("%s: %w: %w", s.kind, ErrSourceLost, err)
			s.log.Warn("capture source failed", "err", err)
			return
		}
		// Wall clock derived from the monotonic clock: never steps back.
		now := start.Add(time.Since(start)).Round(0)
		if !now.After(last) {
			now = last.Add(time.Microsecond)
		}
		s.stats.captured.Add(1)

		s.ctlMu.Lock()
		if s.ctlGen != gen {
			gen = s.ctlGen
			if s.ctlFPS != fps {
				fps = s.ctlFPS
				pace.setFPS(fps)
			}
			kbps = s.ctlKbps
			if enc != nil {
				applyRate()
			}
		}
		s.ctlMu.Unlock()

		if !pace.admit(now) {
			s.stats.paced.Add(1)
			continue
		}
		last = now

		crop := s.spec.crop
		if crop.Empty() {
			crop = img.Bounds()
		}
		crop = evenRect(crop.Intersect(img.Bounds()))
		if crop.Dx() < 2 || crop.Dy() < 2 {
			s.err = fmt.Errorf("%s: frame %v does not cover capture area %v: %w", s.kind, img.Bounds(), s.spec.crop, ErrSourceLost)
			return
		}
		frame := toI420(spare, img, crop, s.spec.fullRange)
		s.frameMu.Lock()
		spare, s.latest = s.latest, frame
		s.frameMu.Unlock()
		s.firstOnce.Do(func() { close(s.firstSeen) })

		if len(s.out) == cap(s.out) {
			s.stats.backpressure.Add(1)
			continue
		}
		if !bucket.admit(now, kbps*1000, dropperCapacity(kbps*1000, s.cfg.KeyframeInterval)) {
			s.stats.overBudget.Add(1)
			continue
		}

		w, h := crop.Dx(), crop.Dy()
		if enc == nil || w != encW || h != encH {
			if enc != nil {
				s.log.Info("capture frame size changed", "width", w, "height", h)
				enc.Close()
				enc = nil
			}
			encFPS, encBps = fps, 0
			e, err := newEncoder(encoderParams{Width: w, Height: h, FPS: encFPS, BitrateBps: kbps * 1000, Screen: s.spec.screen})
			if err != nil {
				s.err = fmt.Errorf("%s: %w", s.kind, err)
				return
			}
			enc, encW, encH = e, w, h
			lastKey = time.Time{}
			applyRate()
			if !reported {
				reported = true
				s.log.Info("capture stream started", "width", w, "height", h, "fps", fps, "kbps", kbps,
					"keyframe_interval", s.cfg.KeyframeInterval)
			}
		}

		key := s.forceKey.Swap(false) || lastKey.IsZero() || now.Sub(lastKey) >= s.cfg.KeyframeInterval
		data, err := enc.Encode(frame, key)
		if err != nil {
			s.err = fmt.Errorf("%s: encode: %w", s.kind, err)
			s.log.Error("capture encode failed", "err", err)
			return
		}
		rc.add(now, len(data), float64(encBps)/encFPS)
		if rc.update(now) {
			applyRate()
		}
		if len(data) == 0 {
			s.stats.skipped.Add(1)
			if key {
				s.forceKey.Store(true) // ask again on the next frame
			}
			continue
		}
		bucket.add(len(data))
		kf := isIDR(data)
		if kf {
			lastKey = now
			s.stats.keyframes.Add(1)
		}
		s.stats.encoded.Add(1)
		s.stats.bytes.Add(int64(len(data)))
		// Never blocks: this goroutine is the only sender and checked room.
		s.out <- Frame{Data: data, Keyframe: kf, Time: now, Width: w, Height: h}
	}
}

// errorsIsAny reports whether err matches any of targets.
func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
