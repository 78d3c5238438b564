package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Frame is a decoded data message as the backend stores it.
type Frame struct {
	Header
	Payload []byte // aliases Raw
	Raw     []byte // the whole binary frame, for the session digest
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
	Heartbeat    time.Duration // the client's ping interval; dead after 3×. Default 10 s.
	HelloTimeout time.Duration // default 10 s
	MaxBatch     int           // frames per Store call; default 512
	MaxBatchSize int           // bytes per Store call; default 8 MiB
	Log          *slog.Logger

	// CheckpointInterval is the checkpoint rate a welcome asks for when the
	// session is a CheckpointRecorder; default DefaultCheckpointInterval.
	CheckpointInterval time.Duration
}

// Upgrade upgrades an HTTP request to a protocol v1 websocket. It answers
// 400 itself when the client did not ask for the invigil.v1 subprotocol.
func Upgrade(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	if !slices.Contains(websocket.Subprotocols(r), Subprotocol) {
		WriteAPIError(w, http.StatusBadRequest, CodeUnsupportedProtocol, "websocket subprotocol "+Subprotocol+" required")
		return nil, errors.New("no invigil.v1 subprotocol")
	}
	up := websocket.Upgrader{
		Subprotocols:    []string{Subprotocol},
		ReadBufferSize:  64 << 10,
		WriteBufferSize: 16 << 10,
		// The client is a native app, not a browser page: no Origin to check.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return up.Upgrade(w, r, nil)
}

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
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.MaxBatchSize <= 0 {
		opts.MaxBatchSize = 8 << 20
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	conn.SetReadLimit(MaxFrameBytes)
	s := &serverConn{conn: conn, sess: sess, opts: opts, log: opts.Log}

	last, state, err := s.hello(ctx)
	if err != nil {
		s.closeWith(err)
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
	conn.Close()
	wg.Wait()
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
	items    chan item    // reader → storer, in arrival order
	stored   chan uint64  // storer → writer: latest stored seq (coalesced)
	finished chan Control // storer → writer
	dropped  int          // duplicates dropped; the storer's
	cpBudget budget       // checkpoints the reader may still pass on (checkpoint.go)
}

// item is a frame or a finish, in the order the client sent them.
type item struct {
	frame  Frame
	finish *Control
}

var errFinished = errors.New("session finished")

func (s *serverConn) hello(ctx context.Context) (uint64, string, error) {
	s.conn.SetReadDeadline(time.Now().Add(s.opts.HelloTimeout))
	typ, b, err := s.conn.ReadMessage()
	if err != nil {
		return 0, "", fmt.Errorf("read hello: %w", err)
	}
	if typ != websocket.TextMessage {
		return 0, "", &RemoteError{Code: CodeBadMessage, Message: "the first message must be a hello"}
	}
	h, err := ParseControl(b)
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
	welcome, _ := json.Marshal(Control{Type: TypeWelcome, SessionID: h.SessionID, LastAck: last, State: state, HeartbeatMS: int(s.opts.Heartbeat / time.Millisecond), CheckpointMS: checkpointMS(s.sess, s.opts)})
	s.conn.SetWriteDeadline(time.Now().Add(s.opts.Heartbeat))
	if err := s.conn.WriteMessage(websocket.TextMessage, welcome); err != nil {
		return 0, "", fmt.Errorf("send welcome: %w", err)
	}
	return last, state, nil
}

func (s *serverConn) read(ctx context.Context) error {
	dead := 3 * s.opts.Heartbeat
	s.conn.SetReadDeadline(time.Now().Add(dead))
	s.conn.SetPingHandler(func(data string) error {
		s.conn.SetReadDeadline(time.Now().Add(dead))
		err := s.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(s.opts.Heartbeat))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	for {
		typ, b, err := s.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				return &RemoteError{Code: CodeTooLarge, Message: fmt.Sprintf("frame over %d bytes", MaxFrameBytes)}
			}
			return fmt.Errorf("%w: %w", errClientGone, err)
		}
		s.conn.SetReadDeadline(time.Now().Add(dead))
		var it item
		switch typ {
		case websocket.BinaryMessage:
			h, p, err := DecodeFrame(b)
			if err != nil {
				return &RemoteError{Code: CodeBadMessage, Message: err.Error()}
			}
			it.frame = Frame{Header: h, Payload: p, Raw: b}
		case websocket.TextMessage:
			c, err := ParseControl(b)
			if err != nil {
				if errors.Is(err, ErrFrameTooLarge) {
					return &RemoteError{Code: CodeTooLarge, Message: err.Error()}
				}
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
			return nil
		}
	}
}

// store batches frames, drops duplicates, stores and publishes acks.
func (s *serverConn) store(ctx context.Context, last uint64) error {
	var batch []Frame
	for {
		var first item
		select {
		case <-ctx.Done():
			return nil
		case first = <-s.items:
		}
		batch = batch[:0]
		size := 0
		var fin *Control
		add := func(it item) error {
			if it.finish != nil {
				fin = it.finish
				return nil
			}
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
		if err := add(first); err != nil {
			return err
		}
	fill:
		for fin == nil && len(batch) < s.opts.MaxBatch && size < s.opts.MaxBatchSize {
			select {
			case it := <-s.items:
				if err := add(it); err != nil {
					return err
				}
			default:
				break fill
			}
		}
		if len(batch) > 0 {
			if err := s.sess.Store(ctx, batch); err != nil {
				s.log.Error("store failed", "err", err)
				return &RemoteError{Code: CodeInternal, Message: "the backend could not store the data; it will be sent again"}
			}
			last = batch[len(batch)-1].Seq
		}
		// Publish the latest stored seq, replacing an unsent older one.
		select {
		case <-s.stored:
		default:
		}
		s.stored <- last
		if fin != nil {
			if fin.LastSeq != last {
				return &RemoteError{Code: CodeBadMessage, Message: fmt.Sprintf("finish at %d, but the last stored message is %d", fin.LastSeq, last)}
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

// write is the connection's only writer: welcome is sent; then acks,
// commands, finished and the final error or close.
func (s *serverConn) write(ctx context.Context, cancel context.CancelCauseFunc, acked uint64, state string) error {
	send := func(c Control) error {
		b, _ := json.Marshal(c)
		s.conn.SetWriteDeadline(time.Now().Add(s.opts.Heartbeat))
		return s.conn.WriteMessage(websocket.TextMessage, b)
	}
	sent := map[string]bool{}
	sendCommands := func() (<-chan struct{}, error) {
		cmds, changed := s.sess.Commands()
		for _, c := range cmds {
			if sent[c.ID] {
				continue
			}
			if err := send(c); err != nil {
				return nil, err
			}
			sent[c.ID] = true
		}
		return changed, nil
	}
	changed, err := sendCommands()
	if err != nil {
		cancel(fmt.Errorf("%w: %w", errClientGone, err))
	}
	for {
		select {
		case <-ctx.Done():
			cause := context.Cause(ctx)
			s.closeWith(cause)
			return cause
		case q := <-s.stored:
			if q > acked {
				if err := send(Control{Type: TypeAck, Seq: q}); err != nil {
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
	s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
}
