package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Frame is a decoded data message as the backend stores it.
type Frame struct {
	Header
	Payload []byte // aliases Raw
	Raw     []byte // the whole binary frame, for the session digest; reused once Store returns
}

// ServerSession is what a backend implements for one session's connection.
// transport owns this interface; the backend implements it. ServeConn calls
// Hello once, then Store from one goroutine and the command methods from
// others.
type ServerSession interface {
	// Hello checks the client's hello (its session id and config key) and
	// returns the last stored sequence number and the session state
	// (StateActive or StatePaused). A *RemoteError refuses the connection
	// with its code.
	Hello(ctx context.Context, hello *Control) (lastSeq uint64, state string, err error)
	// Store makes frames durable, in order. They are contiguous and start
	// right after the last stored one. Store returns only once they would
	// survive a crash of the backend; ServeConn acks them after that.
	// Store must not keep the frames' bytes (Payload, Raw) once it returns:
	// ServeConn reuses the buffers for the next messages.
	Store(ctx context.Context, frames []Frame) error
	// Commands returns the commands not yet acknowledged by the client, and a
	// channel that is closed when that list changes.
	Commands() ([]Control, <-chan struct{})
	// AckCommand records that the client acted on command id.
	AckCommand(id string) error
	// Finish marks the session finished after the client's finish message,
	// whose last_seq is the last stored seq. It returns the session digest.
	Finish(ctx context.Context, lastSeq uint64) (digest string, err error)
}

// ServerOptions tunes ServeConn.
type ServerOptions struct {
	// Heartbeat is the interval clients are told to ping at; the server
	// pings at it too, and a connection silent for 3× is dead (4408).
	// Default 10 s.
	Heartbeat    time.Duration
	HelloTimeout time.Duration // time from the upgrade to a complete hello; default 10 s
	// MessageTimeout bounds the arrival of one whole message, from its
	// first byte to its last, pings notwithstanding (4408). Default
	// 3 × Heartbeat.
	MessageTimeout time.Duration
	MaxBatch       int // frames per Store call; default 512
	MaxBatchSize   int // bytes per Store call; default 8 MiB
	// MaxConnBytes is how many bytes one connection may hold read but not
	// yet stored before its reader waits for the store (backpressure).
	// Default 16 MiB; never less than one frame.
	MaxConnBytes int64
	// Budget bounds the bytes all connections sharing it hold in memory
	// between reading and storing (half-received messages included). A
	// connection that would exceed it waits up to BudgetWait for bytes to
	// be given back, then is closed with 4503. Default: one budget of
	// DefaultBudgetBytes shared by every ServeConn of the process.
	Budget *Budget
	// BudgetWait is how long a reader waits for the Budget; default
	// Heartbeat, and never past the message's own deadline.
	BudgetWait time.Duration
	// Linger is how long the server waits for the client's close frame
	// after sending its own, discarding what still arrives, so that a
	// client in the middle of a large frame sees the close code rather
	// than a TCP reset. Default 2 s.
	Linger time.Duration
	Log    *slog.Logger

	// CheckpointInterval is the checkpoint rate a welcome asks for when the
	// session is a CheckpointRecorder; default DefaultCheckpointInterval.
	CheckpointInterval time.Duration
}

// DefaultBudgetBytes is the size of the budget ServeConn connections share
// when ServerOptions.Budget is nil.
const DefaultBudgetBytes = 64 << 20

var defaultBudget = NewBudget(DefaultBudgetBytes)

// Budget bounds the bytes that the connections sharing it hold in memory
// between reading a message and storing it, so that clients sending half
// a message (or sending faster than the backend stores) cannot pin the
// backend's memory. A reader that finds it exhausted waits, in turn, for
// bytes to be given back (its client then waits on TCP), for at most
// BudgetWait. It is safe for concurrent use.
type Budget struct {
	max  int64
	used atomic.Int64

	waiting atomic.Int32 // len(queue), read without mu by give
	mu      sync.Mutex
	queue   []*budgetWaiter // first come, first served
}

// A budgetWaiter is one reader's place in a Budget's queue, reused from
// one wait to the next: a channel and a timer made per wait were a twentieth
// of the backend's CPU while a thousand readers waited in turn. The zero
// value is ready; one goroutine uses it at a time.
type budgetWaiter struct {
	n     int64
	ready chan struct{} // a token when its n bytes are taken for it (capacity 1)
	timer *time.Timer
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int64) *Budget { return &Budget{max: max} }

// Used is the number of bytes currently held.
func (b *Budget) Used() int64 { return b.used.Load() }

func (b *Budget) take(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// takeWait takes n bytes, waiting until deadline for them behind the
// readers that waited first. It reports whether it got them.
// w is the caller's waiter, reused between calls.
func (b *Budget) takeWait(n int64, deadline time.Time, w *budgetWaiter) bool {
	if b.waiting.Load() == 0 && b.take(n) {
		return true
	}
	if w.ready == nil {
		w.ready = make(chan struct{}, 1)
	}
	w.n = n
	b.mu.Lock()
	b.queue = append(b.queue, w)
	b.waiting.Add(1)
	b.grantLocked() // bytes given back before the lock was taken
	b.mu.Unlock()
	select {
	case <-w.ready: // granted at once: no timer
		return true
	default:
	}
	if w.timer == nil {
		w.timer = time.NewTimer(time.Until(deadline))
	} else {
		w.timer.Reset(time.Until(deadline))
	}
	defer w.timer.Stop()
	select {
	case <-w.ready:
		return true
	case <-w.timer.C:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted meanwhile
		return true
	default:
	}
	for i, q := range b.queue {
		if q == w {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			b.waiting.Add(-1)
			break
		}
	}
	b.grantLocked() // a large head leaving may let smaller ones in
	return false
}

// grantLocked hands bytes to the waiters at the head of the queue while
// they fit.
func (b *Budget) grantLocked() {
	for len(b.queue) > 0 && b.take(b.queue[0].n) {
		b.queue[0].ready <- struct{}{} // never blocks: a waiter is queued once, its token taken before it queues again
		b.queue[0] = nil
		b.queue = b.queue[1:]
		b.waiting.Add(-1)
	}
}

func (b *Budget) give(n int64) {
	b.used.Add(-n)
	if b.waiting.Load() > 0 {
		b.mu.Lock()
		b.grantLocked()
		b.mu.Unlock()
	}
}

// Command re-sending on one connection (docs/protocol.md section 2.5): a
// command not acknowledged 3 heartbeats after it was sent is sent again,
// with the wait doubling, at most commandResends times per connection.
const commandResends = 4

// Upgrade upgrades an HTTP request to a protocol v1 websocket. It answers
// 400 itself when the client did not ask for the invigil.v1 subprotocol.
func Upgrade(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	if !slices.Contains(websocket.Subprotocols(r), Subprotocol) {
		WriteAPIError(w, http.StatusBadRequest, CodeUnsupportedProtocol, "websocket subprotocol "+Subprotocol+" required")
		return nil, errors.New("no invigil.v1 subprotocol")
	}
	up := websocket.Upgrader{
		Subprotocols: []string{Subprotocol},
		// Per connection, times a thousand: a read buffer that holds
		// a dozen camera frames of a backlog (bigger messages are read
		// past it, straight into their own buffer), and a write
		// buffer shared between connections, which only send acks
		// and control messages. 64 KiB and 16 KiB of their own made
		// 80 MB at 1,000 sessions, each page faulted in at the start.
		ReadBufferSize:  16 << 10,
		WriteBufferSize: 4 << 10,
		WriteBufferPool: &writeBuffers,
		// The client is a native app, not a browser page: no Origin to check.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return up.Upgrade(w, r, nil)
}

var writeBuffers sync.Pool

// WriteAPIError writes the HTTP API's error body.
func WriteAPIError(w http.ResponseWriter, status int, code, msg string) {
	var ae APIError
	ae.Error.Code, ae.Error.Message = code, msg
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(ae)
}

// errClientGone ends a connection the client closed or lost.
var errClientGone = errors.New("client went away")

// ServeConn speaks protocol v1 on an upgraded connection for one session
// until the client leaves, the session finishes, an error occurs or ctx ends.
// Cancelling ctx with cause ErrReplaced tells the client "replaced"; any other
// cancellation tells it "unavailable" (the backend is going down). ServeConn
// returns after its goroutines have stopped and any Store in progress has
// returned, so a replacement connection never stores concurrently.
func ServeConn(ctx context.Context, conn *websocket.Conn, sess ServerSession, opts ServerOptions) error {
	defer conn.Close()
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 10 * time.Second
	}
	if opts.HelloTimeout <= 0 {
		opts.HelloTimeout = 10 * time.Second
	}
	if opts.MessageTimeout <= 0 {
		opts.MessageTimeout = 3 * opts.Heartbeat
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.MaxBatchSize <= 0 {
		opts.MaxBatchSize = 8 << 20
	}
	if opts.MaxConnBytes < MaxFrameBytes {
		opts.MaxConnBytes = max(16<<20, opts.MaxConnBytes)
	}
	if opts.Budget == nil {
		opts.Budget = defaultBudget
	}
	if opts.BudgetWait <= 0 {
		opts.BudgetWait = opts.Heartbeat
	}
	if opts.Linger <= 0 {
		opts.Linger = 2 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &serverConn{conn: conn, sess: sess, opts: opts, log: opts.Log, dead: 3 * opts.Heartbeat, released: make(chan struct{}, 1)}
	defer func() { opts.Budget.give(s.held.Swap(0)) }()
	conn.SetPingHandler(func(data string) error {
		s.extendDeadline()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(s.opts.Heartbeat))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	conn.SetPongHandler(func(string) error { s.extendDeadline(); return nil })

	last, state, err := s.hello(ctx)
	if err != nil {
		s.closeWith(err)
		s.linger()
		return err
	}

	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.items = make(chan item, 256)
	s.stored = make(chan uint64, 1)
	s.finished = make(chan Control, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); cancel(s.read(cctx)) }()
	go func() { defer wg.Done(); cancel(s.store(cctx, last)) }()
	err = s.write(cctx, cancel, last, state)
	// The reader may still wait for a frame: give it the linger time to see
	// the client's close frame, then discard whatever else arrives.
	s.startClosing()
	wg.Wait()
	s.linger()
	conn.Close()
	if errors.Is(err, errClientGone) || errors.Is(err, errFinished) {
		return nil
	}
	return err
}

type serverConn struct {
	conn     *websocket.Conn
	sess     ServerSession
	opts     ServerOptions
	log      *slog.Logger
	dead     time.Duration
	items    chan item    // reader → storer, in arrival order
	stored   chan uint64  // storer → writer: latest stored seq (coalesced)
	finished chan Control // storer → writer
	dropped  int          // duplicates dropped; the storer's

	// The reader's (the ping and pong handlers run on it too).
	msgDeadline time.Time    // when the message being received must be complete; zero between messages
	sizeHint    [256]int32   // per track: the size of its last binary frame (readMessage)
	waiter      budgetWaiter // readMessage's place in the budget's queue
	// Messages numbered in [conflictLo, conflictHi] are new messages of a
	// client whose spool is behind the backend (hello's next_seq ≤ last_ack).
	conflictLo, conflictHi uint64

	held      atomic.Int64  // bytes taken from the budget and not given back
	released  chan struct{} // poked when the storer gives bytes back
	closeSent bool          // the writer's (or hello's): a close frame went out

	dlMu    sync.Mutex
	closing bool // the read deadline is the linger's; under dlMu

	cpBudget budget // checkpoints the reader may still pass on (checkpoint.go)
}

// startClosing gives the reader Linger more time to see the client's close
// frame; pings no longer extend it.
func (s *serverConn) startClosing() {
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	s.closing = true
	s.conn.SetReadDeadline(time.Now().Add(s.opts.Linger))
}

// item is a frame or a finish, in the order the client sent them.
type item struct {
	frame  Frame
	finish *Control
	cost   int64 // budget bytes the frame holds
}

var errFinished = errors.New("session finished")

// extendDeadline restarts the silence timer after a ping or pong, but never
// past the deadline of a message being received.
func (s *serverConn) extendDeadline() {
	s.setDeadline(time.Now().Add(s.dead))
}

// setDeadline sets the read deadline to d, or to the message's deadline if
// that is earlier; once the connection is closing, only the linger deadline
// counts.
func (s *serverConn) setDeadline(d time.Time) {
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	if s.closing {
		return
	}
	if !s.msgDeadline.IsZero() && s.msgDeadline.Before(d) {
		d = s.msgDeadline
	}
	s.conn.SetReadDeadline(d)
}

// release gives n budget bytes back.
func (s *serverConn) release(n int64) {
	if n == 0 {
		return
	}
	s.held.Add(-n)
	s.opts.Budget.give(n)
	select {
	case s.released <- struct{}{}:
	default:
	}
}

// readMessage reads one whole message within the protocol's limits: its
// size (4413), its arrival time (4408) and the process's memory budget
// (4503). by, if set, is when the message must be complete; otherwise it is
// MessageTimeout after its first byte. The message's cost in budget bytes is
// cap(b); the caller releases it, and gives b back (putBuf) once nothing
// refers to it.
func (s *serverConn) readMessage(by time.Time, what string) (typ int, b []byte, err error) {
	s.msgDeadline = by
	defer func() {
		s.msgDeadline = time.Time{}
		if err != nil {
			s.release(int64(cap(b)))
			putBuf(b)
			b = nil
		}
	}()
	typ, r, err := s.conn.NextReader()
	if err != nil {
		return 0, nil, s.readErr(err, what)
	}
	if s.msgDeadline.IsZero() {
		s.msgDeadline = time.Now().Add(s.opts.MessageTimeout)
		s.extendDeadline()
	}
	limit := MaxFrameBytes
	if typ == websocket.TextMessage {
		limit = MaxControlBytes
	}
	tooLarge := func() error {
		return &RemoteError{Code: CodeTooLarge, Message: fmt.Sprintf("a %s frame is at most %d bytes", frameTypeName(typ), limit)}
	}
	if typ == websocket.BinaryMessage {
		// The header names the track; its last frame's size is a good
		// guess of this one's, so most frames need one buffer, not a
		// series of doublings (each copied, each counted in the budget).
		var hdr [HeaderSize]byte
		n, err := io.ReadFull(r, hdr[:])
		if n > 0 {
			size := 2 << 10
			if n > 3 {
				h := int(s.sizeHint[hdr[3]])
				size = max(size, h+h/8+64) // and the pool's class rounds up
			}
			_, size = bufClass(min(size, limit))
			if !s.opts.Budget.takeWait(int64(size), s.budgetDeadline(), &s.waiter) {
				s.log.Warn("memory budget exhausted", "used", s.opts.Budget.Used())
				return typ, nil, &RemoteError{Code: CodeUnavailable, Message: "the backend is busy (memory budget); reconnect later"}
			}
			s.held.Add(int64(size))
			b = append(getBuf(size), hdr[:n]...)
		}
		switch {
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
			return typ, b, nil // shorter than a header: the caller refuses it
		case err != nil:
			return typ, b, s.readErr(err, "the rest of a message")
		}
		defer func() {
			if err == nil && len(b) >= HeaderSize {
				s.sizeHint[b[3]] = int32(len(b))
			}
		}()
	}
	for {
		if len(b) == cap(b) {
			if len(b) == limit {
				var one [1]byte
				n, err := io.ReadFull(r, one[:])
				switch {
				case n > 0:
					return typ, b, tooLarge()
				case err == io.EOF:
					return typ, b, nil
				default:
					return typ, b, s.readErr(err, "the rest of a message")
				}
			}
			// Small first: most frames are a few KiB, and the budget
			// counts capacity. Doubling a class size stays a class size,
			// and so does the limit.
			n := min(limit, max(2<<10, 2*cap(b)))
			if !s.opts.Budget.takeWait(int64(n-cap(b)), s.budgetDeadline(), &s.waiter) {
				s.log.Warn("memory budget exhausted", "used", s.opts.Budget.Used())
				return typ, b, &RemoteError{Code: CodeUnavailable, Message: "the backend is busy (memory budget); reconnect later"}
			}
			s.held.Add(int64(n - cap(b)))
			nb := append(getBuf(n), b...)
			putBuf(b)
			b = nb
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return typ, b, nil
		}
		if err != nil {
			return typ, b, s.readErr(err, "the rest of a message")
		}
	}
}

// budgetDeadline is how long the message being read may wait for the
// memory budget: BudgetWait, and not past its own deadline.
func (s *serverConn) budgetDeadline() time.Time {
	d := time.Now().Add(s.opts.BudgetWait)
	if !s.msgDeadline.IsZero() && s.msgDeadline.Before(d) {
		d = s.msgDeadline
	}
	return d
}

func frameTypeName(typ int) string {
	if typ == websocket.TextMessage {
		return "text"
	}
	return "binary"
}

// readErr turns a read error into the reason the connection ends.
func (s *serverConn) readErr(err error, what string) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		switch what {
		case "hello":
			return &RemoteError{Code: CodeBadMessage, Message: fmt.Sprintf("no hello within %v of the upgrade", s.opts.HelloTimeout)}
		case "the rest of a message":
			return &RemoteError{Code: CodeTimeout, Message: fmt.Sprintf("a message did not arrive completely within %v", s.opts.MessageTimeout)}
		}
		return &RemoteError{Code: CodeTimeout, Message: fmt.Sprintf("no message, ping or pong for %v", s.dead)}
	}
	return fmt.Errorf("%w: %w", errClientGone, err)
}

func (s *serverConn) hello(ctx context.Context) (uint64, string, error) {
	by := time.Now().Add(s.opts.HelloTimeout)
	s.conn.SetReadDeadline(by)
	typ, b, err := s.readMessage(by, "hello")
	s.release(int64(cap(b)))
	if err != nil {
		return 0, "", err
	}
	if typ != websocket.TextMessage {
		return 0, "", &RemoteError{Code: CodeBadMessage, Message: "the first message must be a hello"}
	}
	h, err := ParseControl(b)
	putBuf(b)
	if err != nil {
		return 0, "", &RemoteError{Code: CodeBadMessage, Message: err.Error()}
	}
	if h.Type != TypeHello {
		return 0, "", &RemoteError{Code: CodeBadMessage, Message: "the first message must be a hello, not " + h.Type}
	}
	if h.Protocol != ProtocolVersion {
		return 0, "", &RemoteError{Code: CodeUnsupportedProtocol, Message: fmt.Sprintf("protocol %d is not supported; this backend speaks %d", h.Protocol, ProtocolVersion)}
	}
	last, state, err := s.sess.Hello(ctx, h)
	if err != nil {
		return 0, "", err
	}
	if h.NextSeq <= last {
		// The client lacks messages the backend has: its spool was lost or
		// restored from an older copy. It must number on from last+1.
		s.conflictLo, s.conflictHi = h.NextSeq, last
		s.log.Warn("client spool behind the backend", "next_seq", h.NextSeq, "last_ack", last)
	}
	welcome, _ := json.Marshal(Control{Type: TypeWelcome, SessionID: h.SessionID, LastAck: last, State: state, HeartbeatMS: int(s.opts.Heartbeat / time.Millisecond), CheckpointMS: checkpointMS(s.sess, s.opts)})
	s.conn.SetWriteDeadline(time.Now().Add(s.dead))
	if err := s.conn.WriteMessage(websocket.TextMessage, welcome); err != nil {
		return 0, "", fmt.Errorf("%w: send welcome: %w", errClientGone, err)
	}
	return last, state, nil
}

func (s *serverConn) read(ctx context.Context) error {
	for ctx.Err() == nil {
		// Backpressure: wait for the store while this connection holds
		// its share of memory.
		for s.held.Load() > s.opts.MaxConnBytes {
			select {
			case <-s.released:
			case <-ctx.Done():
				return nil
			}
		}
		s.extendDeadline()
		typ, b, err := s.readMessage(time.Time{}, "message")
		if err != nil {
			return err
		}
		var it item
		switch typ {
		case websocket.BinaryMessage:
			h, p, err := DecodeFrame(b)
			if err != nil {
				s.release(int64(cap(b)))
				putBuf(b)
				return &RemoteError{Code: CodeBadMessage, Message: err.Error()}
			}
			if s.conflictLo <= h.Seq && h.Seq <= s.conflictHi {
				s.release(int64(cap(b)))
				putBuf(b)
				return &RemoteError{Code: CodeSequenceConflict, Message: fmt.Sprintf("message %d: the backend already stored messages up to %d, and this client's hello said it numbers from %d; number new messages from %d", h.Seq, s.conflictHi, s.conflictLo, s.conflictHi+1)}
			}
			it.frame = Frame{Header: h, Payload: p, Raw: b}
			it.cost = int64(cap(b))
		case websocket.TextMessage:
			c, err := ParseControl(b)
			s.release(int64(cap(b)))
			putBuf(b)
			if err != nil {
				return &RemoteError{Code: CodeBadMessage, Message: err.Error()}
			}
			switch c.Type {
			case TypeCommandAck:
				if err := s.sess.AckCommand(c.ID); err != nil {
					s.log.Warn("command ack", "id", c.ID, "err", err)
				}
				continue
			case TypeCheckpoint:
				s.checkpoint(ctx, c)
				continue
			case TypeFinish:
				it.finish = c
			default:
				return &RemoteError{Code: CodeBadMessage, Message: "unexpected " + c.Type + " from a client"}
			}
		}
		select {
		case s.items <- it:
		case <-ctx.Done():
			s.release(it.cost)
			putBuf(it.frame.Raw)
			return nil
		}
	}
	return nil
}

// store batches frames, drops duplicates, stores and publishes acks.
func (s *serverConn) store(ctx context.Context, last uint64) error {
	var batch []Frame
	var bufs [][]byte // the batch's read buffers, duplicates' included: pooled once stored
	recycle := func() {
		for i, b := range bufs {
			putBuf(b)
			bufs[i] = nil
		}
		bufs = bufs[:0]
	}
	for {
		var first item
		select {
		case <-ctx.Done():
			return nil
		case first = <-s.items:
		}
		batch = batch[:0]
		size := 0
		var cost int64
		var fin *Control
		add := func(it item) error {
			cost += it.cost
			if it.finish != nil {
				fin = it.finish
				return nil
			}
			bufs = append(bufs, it.frame.Raw)
			q := it.frame.Seq
			want := last + uint64(len(batch)) + 1
			switch {
			case q < want:
				s.dropped++ // a resend of something stored: drop, the ack covers it
			case q > want:
				return &RemoteError{Code: CodeSequenceGap, Message: fmt.Sprintf("expected message %d, got %d", want, q)}
			default:
				batch = append(batch, it.frame)
				size += len(it.frame.Raw)
			}
			return nil
		}
		err := add(first)
	fill:
		for err == nil && fin == nil && len(batch) < s.opts.MaxBatch && size < s.opts.MaxBatchSize {
			select {
			case it := <-s.items:
				err = add(it)
			default:
				break fill
			}
		}
		if err != nil {
			s.release(cost)
			return err
		}
		if len(batch) > 0 {
			err := s.sess.Store(ctx, batch)
			s.release(cost)
			if err != nil {
				// A refusal of the session's own (its token expired, the
				// exam closed) closes with that code; anything else is a
				// failure to store, and the client sends the data again.
				var re *RemoteError
				if errors.As(err, &re) && re.Code != CodeInternal {
					if _, ok := closeCodes[re.Code]; ok {
						return re
					}
				}
				s.log.Error("store failed", "err", err)
				return &RemoteError{Code: CodeInternal, Message: "the backend could not store the data; it will be sent again"}
			}
			last = batch[len(batch)-1].Seq
			clear(batch) // the buffers go back to the pool: no references left here
		} else {
			s.release(cost)
		}
		recycle()
		// Publish the latest stored seq, replacing an unsent older one.
		select {
		case <-s.stored:
		default:
		}
		s.stored <- last
		if fin != nil {
			if fin.LastSeq != last {
				return &RemoteError{Code: CodeSequenceConflict, Message: fmt.Sprintf("finish at %d, but the last stored message is %d", fin.LastSeq, last)}
			}
			digest, err := s.sess.Finish(ctx, last)
			if err != nil {
				var re *RemoteError
				if errors.As(err, &re) {
					return err
				}
				s.log.Error("finish failed", "err", err)
				return &RemoteError{Code: CodeInternal, Message: "the backend could not finish the session"}
			}
			s.finished <- Control{Type: TypeFinished, LastSeq: last, Digest: digest}
			<-ctx.Done() // the writer ends the connection once finished is out
			return nil
		}
	}
}

// sentCommand is the writer's record of a command sent on this connection.
type sentCommand struct {
	sends int
	next  time.Time // when it is sent again if still not acknowledged
}

// write is the connection's only writer: welcome is sent; then acks,
// commands, pings, finished and the final error or close.
func (s *serverConn) write(ctx context.Context, cancel context.CancelCauseFunc, acked uint64, state string) error {
	sendRaw := func(b []byte) error {
		s.conn.SetWriteDeadline(time.Now().Add(s.dead))
		return s.conn.WriteMessage(websocket.TextMessage, b)
	}
	send := func(c Control) error {
		b, _ := json.Marshal(c)
		return sendRaw(b)
	}
	var ackBuf []byte
	resend := 3 * s.opts.Heartbeat
	sent := map[string]*sentCommand{}
	sendCommands := func() (<-chan struct{}, error) {
		cmds, changed := s.sess.Commands()
		now := time.Now()
		for _, c := range cmds {
			sc := sent[c.ID]
			if sc != nil && (sc.sends > commandResends || now.Before(sc.next)) {
				continue
			}
			if sc == nil {
				sc = &sentCommand{}
				sent[c.ID] = sc
			}
			if err := send(c); err != nil {
				return nil, err
			}
			sc.next = now.Add(resend << sc.sends)
			sc.sends++
		}
		return changed, nil
	}
	changed, err := sendCommands()
	if err != nil {
		cancel(fmt.Errorf("%w: %w", errClientGone, err))
	}
	tick := time.NewTicker(s.opts.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			cause := context.Cause(ctx)
			s.closeWith(cause)
			return cause
		case q := <-s.stored:
			if q > acked {
				ackBuf = appendAck(ackBuf[:0], q) // one per store: no reflection
				if err := sendRaw(ackBuf); err != nil {
					cancel(fmt.Errorf("%w: %w", errClientGone, err))
					continue
				}
				acked = q
			}
		case f := <-s.finished:
			if err := send(f); err != nil {
				cancel(fmt.Errorf("%w: %w", errClientGone, err))
				continue
			}
			cancel(errFinished)
		case <-changed:
			if changed, err = sendCommands(); err != nil {
				cancel(fmt.Errorf("%w: %w", errClientGone, err))
			}
		case <-tick.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.dead)); err != nil {
				cancel(fmt.Errorf("%w: ping: %w", errClientGone, err))
				continue
			}
			if changed, err = sendCommands(); err != nil {
				cancel(fmt.Errorf("%w: %w", errClientGone, err))
			}
		}
	}
}

// closeWith tells the client why the connection ends, with an error message
// and the matching close code, or a normal close.
func (s *serverConn) closeWith(cause error) {
	var re *RemoteError
	switch {
	case errors.As(cause, &re):
	case errors.Is(cause, ErrReplaced):
		re = &RemoteError{Code: CodeReplaced, Message: "a newer connection of this session took over"}
	case errors.Is(cause, errFinished):
		s.closeFrame(websocket.CloseNormalClosure, "session finished")
		return
	case errors.Is(cause, errClientGone):
		return
	case errors.Is(cause, context.Canceled):
		re = &RemoteError{Code: CodeUnavailable, Message: "the backend is shutting down; reconnect later"}
	default:
		re = &RemoteError{Code: CodeInternal, Message: "internal error"}
	}
	b, _ := json.Marshal(Control{Type: TypeError, Code: re.Code, Message: re.Message})
	s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	if s.conn.WriteMessage(websocket.TextMessage, b) == nil {
		s.closeFrame(CloseCode(re.Code), re.Code)
	}
}

func (s *serverConn) closeFrame(code int, text string) {
	if s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second)) == nil {
		s.closeSent = true
	}
}

// linger waits, after the server's close frame, for the client's, reading
// and discarding whatever arrives before it (the rest of a large frame), for
// at most Linger. Closing the socket with unread data would make the
// client's TCP stack see a reset instead of the close code.
func (s *serverConn) linger() {
	if !s.closeSent {
		return
	}
	s.dlMu.Lock()
	closing := s.closing
	s.dlMu.Unlock()
	if !closing {
		s.startClosing()
	}
	for {
		_, r, err := s.conn.NextReader()
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return
		}
	}
}
