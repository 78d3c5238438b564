package capture

import (
	"context"
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

	stats streamStats
}

// streamStats are the counters behind Stats, updated by the pipeline.
type streamStats struct {
	captured, paced, backpressure, overBudget, skipped, encoded, keyframes, bytes atomic.Int64
	encoderKbps                                                                   atomic.Int64
}

func (st *streamStats) snapshot() Stats {
	return Stats{
		Captured:     st.captured.Load(),
		Paced:        st.paced.Load(),
		Backpressure: st.backpressure.Load(),
		OverBudget:   st.overBudget.Load(),
		Skipped:      st.skipped.Load(),
		Encoded:      st.encoded.Load(),
		Keyframes:    st.keyframes.Load(),
		Bytes:        st.bytes.Load(),
		EncoderKbps:  int(st.encoderKbps.Load()),
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
func (s *Stream) Stats() Stats { return s.stats.snapshot() }

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

// run is the stream's goroutine: read, stamp, apply controls, then hand
// the frame to the pipeline and queue what it encodes.
func (s *Stream) run() {
	defer close(s.done)
	p := newPipeline(s.cfg, s.spec, s.log, &s.stats)
	defer func() {
		if err := p.close(); err != nil {
			s.log.Warn("capture encoder close failed", "err", err)
		}
	}()
	publish := func(frame *image.YCbCr) *image.YCbCr {
		s.frameMu.Lock()
		old := s.latest
		s.latest = frame
		s.frameMu.Unlock()
		s.firstOnce.Do(func() { close(s.firstSeen) })
		return old
	}
	full := func() bool { return len(s.out) == cap(s.out) }
	var gen uint64
	start := time.Now()
	var last time.Time
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
		last = now

		s.ctlMu.Lock()
		if s.ctlGen != gen {
			gen = s.ctlGen
			p.setFrameRate(s.ctlFPS)
			p.setBitrate(s.ctlKbps)
		}
		s.ctlMu.Unlock()
		if s.forceKey.Swap(false) {
			p.forceKeyframe()
		}

		f, ok, err := p.process(img, now, publish, full)
		if err != nil {
			s.err = err
			s.log.Error("capture encode failed", "err", err)
			return
		}
		if ok {
			// Never blocks: this goroutine is the only sender and the
			// pipeline checked for room.
			s.out <- f
		}
	}
}
