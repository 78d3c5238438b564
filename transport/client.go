package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Handler is what the client application implements to act on the
// backend's commands. transport owns this interface; the client package
// implements it.
type Handler interface {
	// Command is called for each command the backend sends, one at a time,
	// in order, from a goroutine of the Client (never the connection's
	// reader). The Client acknowledges the command when Command returns, so
	// it should hand the command on (to the UI, to capture) and return.
	// A command id is delivered once per Client even if the backend resends
	// it after a reconnect.
	Command(ctx context.Context, c Command)
}

// Command is a backend command (docs/protocol.md section 2.5).
type Command struct {
	ID      string
	Command string // CommandChat, CommandWarn, ...
	Text    string
	At      time.Time
}

// Status is the connection state a client UI shows.
type Status struct {
	Connected   bool
	ServerState string // StateActive or StatePaused, from the last welcome
	Reconnects  int    // connections made after the first
	LastError   error  // why the last connection ended or failed, if it did
	NextRetry   time.Time
	Spool       SpoolStatus
}

// ClientConfig configures a Client.
type ClientConfig struct {
	URL       string // ws:// or wss:// URL of the backend's websocket endpoint
	Token     string // the session token from the join response
	SessionID string
	ConfigKey string // hex SHA-256 of the canonical policy
	Info      ClientInfo
	Spool     *Spool // where Send appends; the Client does not close it
	Handler   Handler
	// OnStatus, if set, is called whenever the status changes. It runs on
	// the Client's goroutines and must not block.
	OnStatus func(Status)
	// OnAck, if set, is called with each cumulative ack as it arrives.
	OnAck func(seq uint64)
	Log   *slog.Logger

	Heartbeat  time.Duration // ping interval; dead after 3× silence. Default 10 s.
	MinBackoff time.Duration // default 250 ms
	MaxBackoff time.Duration // default 30 s
	Dialer     *websocket.Dialer
}

// A Client delivers a session's spooled messages to the backend over one
// websocket at a time, reconnecting and resuming from the backend's last ack
// until Finish or Close. Each connection has one reader, one writer and one
// pinger goroutine.
type Client struct {
	cfg ClientConfig
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	commands chan Command

	mu        sync.Mutex
	status    Status
	terminal  error         // a permanent error: the manager stopped
	ctrl      chan []byte   // control messages for the live connection's writer
	finishing bool          // Finish was called; every new connection sends finish
	checkpts  bool          // the last welcome asked for checkpoints
	finishSeq uint64        // its last_seq
	finished  *FinishResult // set when the backend confirms
	done      chan struct{} // closed when the manager stops
	seen      map[string]bool
}

// FinishResult is what the backend confirmed at finish.
type FinishResult struct {
	LastSeq      uint64
	ServerDigest string // the backend's digest over what it stored (may be empty, see Finish)
	ClientDigest string // the spool's digest over what was sent
}

// NewClient validates cfg. Start begins delivery.
func NewClient(cfg ClientConfig) (*Client, error) {
	switch {
	case cfg.URL == "" || cfg.Token == "" || cfg.SessionID == "":
		return nil, errors.New("transport client: URL, token and session id are required")
	case len(cfg.ConfigKey) != 64:
		return nil, errors.New("transport client: config key must be 64 hex digits")
	case cfg.Spool == nil:
		return nil, errors.New("transport client: no spool")
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		cfg:      cfg,
		log:      cfg.Log,
		ctx:      ctx,
		cancel:   cancel,
		commands: make(chan Command, 64),
		done:     make(chan struct{}),
		seen:     map[string]bool{},
		status:   Status{Spool: cfg.Spool.Status()},
	}, nil
}

// Start starts the connection manager and the command dispatcher.
func (c *Client) Start() {
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		defer close(c.done)
		c.manage()
	}()
	go func() {
		defer c.wg.Done()
		c.dispatch()
	}()
}

// Send appends m to the spool and wakes the writer. An error means m was not
// spooled (spool full, disk full, closed): the caller must stop producing
// and tell the user; everything spooled before is still delivered.
func (c *Client) Send(m Message) (uint64, error) {
	seq, err := c.cfg.Spool.Append(m)
	if err != nil {
		return 0, err
	}
	return seq, nil
}

// Backlog is the number of frame bytes not yet acknowledged.
func (c *Client) Backlog() int64 { return c.cfg.Spool.Backlog() }

// Status returns the current status.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.status
	st.Spool = c.cfg.Spool.Status()
	return st
}

// Err returns the permanent error that stopped the client, if any.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.terminal
}

// Done is closed when the client stops delivering: after Finish, Close or a
// permanent error (see Err).
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) setStatus(f func(*Status)) {
	c.mu.Lock()
	f(&c.status)
	st := c.status
	c.mu.Unlock()
	if c.cfg.OnStatus != nil {
		st.Spool = c.cfg.Spool.Status()
		c.cfg.OnStatus(st)
	}
}

// Finish waits until every spooled message is acknowledged, tells the
// backend the session is finished, and waits for its confirmation. If the
// backend already considers the session finished (its confirmation was lost
// with a connection), Finish succeeds without a server digest.
func (c *Client) Finish(ctx context.Context) (*FinishResult, error) {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-c.done:
			stop()
		case <-wctx.Done():
		}
	}()
	if err := c.cfg.Spool.WaitAcked(wctx); err != nil {
		if terr := c.Err(); terr != nil {
			return nil, terr
		}
		return nil, fmt.Errorf("finish: waiting for acks: %w", err)
	}
	c.cfg.Spool.Sync() // the final checkpoint vouches for synced data
	st := c.cfg.Spool.Status()
	c.mu.Lock()
	c.finishing, c.finishSeq = true, st.NextSeq-1
	ctrl := c.ctrl
	checkpts := c.checkpts
	c.mu.Unlock()
	if ctrl != nil {
		if checkpts && st.SyncedSeq == st.NextSeq-1 && st.SyncedSeq > 0 && st.SyncedDigest != "" {
			// The final checkpoint: the chain this client computed as it
			// captured, against what the backend stored.
			b, _ := json.Marshal(Control{Type: TypeCheckpoint, Seq: st.SyncedSeq, Digest: st.SyncedDigest})
			select {
			case ctrl <- b:
			default:
			}
		}
		b, _ := json.Marshal(Control{Type: TypeFinish, LastSeq: st.NextSeq - 1})
		select {
		case ctrl <- b:
		default: // the connection is going away; the next one sends finish
		}
	}
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("finish: %w", ctx.Err())
	case <-c.done:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished != nil {
		r := *c.finished
		r.ClientDigest = st.Digest
		return &r, nil
	}
	if errors.Is(c.terminal, ErrSessionFinished) {
		return &FinishResult{LastSeq: st.NextSeq - 1, ClientDigest: st.Digest}, nil
	}
	if c.terminal != nil {
		return nil, fmt.Errorf("finish: %w", c.terminal)
	}
	return nil, errors.New("finish: client closed")
}

// Close stops delivery and waits for the client's goroutines. Spooled
// messages stay in the spool for a later run. Close is idempotent.
func (c *Client) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}

// manage connects, serves and reconnects until finished, closed or a
// permanent error.
func (c *Client) manage() {
	attempt := 0
	for c.ctx.Err() == nil {
		healthy, err := c.connectAndServe()
		if c.ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		fin := c.finished != nil
		c.mu.Unlock()
		if fin {
			return
		}
		if errors.Is(err, ErrSpoolCorrupt) {
			// The spool cannot be delivered even after Repair: retrying
			// would loop for ever. Stop and say so.
			c.log.Error("spool cannot be delivered", "err", err)
			c.mu.Lock()
			c.terminal = err
			c.mu.Unlock()
			c.setStatus(func(s *Status) { s.Connected = false; s.LastError = err })
			return
		}
		var re *RemoteError
		if errors.As(err, &re) && re.Permanent() {
			c.log.Warn("connection refused for good", "code", re.Code, "err", err)
			c.mu.Lock()
			c.terminal = err
			c.mu.Unlock()
			c.setStatus(func(s *Status) { s.Connected = false; s.LastError = err })
			return
		}
		if healthy {
			attempt = 0
		}
		d := backoff(attempt, c.cfg.MinBackoff, c.cfg.MaxBackoff)
		attempt++
		level := slog.LevelInfo
		if attempt > 5 {
			level = slog.LevelWarn // not a blip: say so where a warn-level log shows it
		}
		c.log.Log(c.ctx, level, "connection lost; retrying", "err", err, "in", d.Round(time.Millisecond), "attempt", attempt)
		c.setStatus(func(s *Status) { s.Connected = false; s.LastError = err; s.NextRetry = time.Now().Add(d) })
		t := time.NewTimer(d)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// reportDamage logs what a spool repair lost. The spool's event tells the
// proctor; Status().Spool.Damage tells the application.
func (c *Client) reportDamage(d *SpoolDamage) {
	c.log.Error("spool damaged: messages lost; the rest renumbered and sent", "lost", d.Lost,
		"lost_from", d.LostFrom, "lost_to", d.LostTo, "renumbered", d.Renumbered, "preserved_in", d.Aside)
	c.setStatus(func(*Status) {})
}

// backoff is exponential with full jitter: uniform in [min/2, min(max, min·2^attempt)].
func backoff(attempt int, minD, maxD time.Duration) time.Duration {
	ceil := maxD
	if attempt < 30 {
		if d := minD << attempt; d > 0 && d < maxD {
			ceil = d
		}
	}
	lo := minD / 2
	return lo + rand.N(ceil-lo+1)
}

// connectAndServe runs one connection. healthy reports whether it got far
// enough (welcome and an ack, or a long life) to reset the backoff.
func (c *Client) connectAndServe() (healthy bool, err error) {
	conn, welcome, err := c.connect()
	if err != nil {
		return false, err
	}
	defer conn.Close()
	// Damage in the spool (a message it cannot read, a segment gone) is
	// settled against what the backend has: lost messages are reported in
	// an event and the rest renumbered, so delivery can go on.
	if dmg, err := c.cfg.Spool.Repair(welcome.LastAck); err != nil {
		return false, fmt.Errorf("repair spool: %w", err)
	} else if dmg != nil {
		c.reportDamage(dmg)
	}
	if welcome.LastAck >= c.cfg.Spool.Status().NextSeq {
		// The backend has more than this spool ever produced: the spool was
		// lost. Carry on after the backend's last message.
		if err := c.cfg.Spool.Rebase(welcome.LastAck); err != nil {
			return false, err
		}
		c.log.Warn("spool behind the backend; rebased", "last_ack", welcome.LastAck)
	}
	if err := c.cfg.Spool.Ack(welcome.LastAck); err != nil {
		return false, err
	}
	ctrl := make(chan []byte, 16)
	c.mu.Lock()
	c.ctrl = ctrl
	c.checkpts = welcome.CheckpointMS > 0
	reconnects := c.status.Reconnects
	if c.status.Connected || c.status.LastError != nil {
		reconnects++
	}
	finishing, finishSeq := c.finishing, c.finishSeq
	c.mu.Unlock()
	c.setStatus(func(s *Status) {
		s.Connected, s.ServerState, s.LastError, s.Reconnects = true, welcome.State, nil, reconnects
	})
	c.log.Info("connected", "reconnects", reconnects, "last_ack", welcome.LastAck, "state", welcome.State)
	defer func() {
		c.mu.Lock()
		c.ctrl = nil
		c.mu.Unlock()
	}()
	if finishing {
		b, _ := json.Marshal(Control{Type: TypeFinish, LastSeq: finishSeq})
		ctrl <- b
	}

	start := time.Now()
	ctx, cancel := context.WithCancelCause(c.ctx)
	var wg sync.WaitGroup
	var gotAck bool
	wg.Add(3)
	go func() { defer wg.Done(); cancel(c.read(ctx, conn, &gotAck)) }()
	cp := &checkpointer{every: time.Duration(welcome.CheckpointMS) * time.Millisecond}
	go func() { defer wg.Done(); cancel(c.write(ctx, conn, welcome.LastAck+1, ctrl, cp)) }()
	go func() { defer wg.Done(); cancel(c.ping(ctx, conn)) }()
	<-ctx.Done()
	conn.Close() // unblocks the reader and writer
	wg.Wait()
	err = context.Cause(ctx)
	return gotAck || time.Since(start) > 30*time.Second, err
}

// connect dials, says hello and reads the welcome.
func (c *Client) connect() (*websocket.Conn, *Control, error) {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+c.cfg.Token)
	d := *c.cfg.Dialer
	d.Subprotocols = []string{Subprotocol}
	dctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
	defer cancel()
	conn, resp, err := d.DialContext(dctx, c.cfg.URL, h)
	if err != nil {
		if resp != nil {
			var ae APIError
			if resp.Body != nil {
				json.NewDecoder(resp.Body).Decode(&ae)
				resp.Body.Close()
			}
			if ae.Error.Code != "" {
				return nil, nil, &RemoteError{Code: ae.Error.Code, Message: ae.Error.Message}
			}
			if resp.StatusCode == http.StatusUnauthorized {
				return nil, nil, &RemoteError{Code: CodeUnauthorized, Message: "the backend refused the session token"}
			}
			return nil, nil, fmt.Errorf("websocket upgrade: HTTP %d: %w", resp.StatusCode, err)
		}
		return nil, nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	if conn.Subprotocol() != Subprotocol {
		conn.Close()
		return nil, nil, &RemoteError{Code: CodeUnsupportedProtocol, Message: "the backend did not agree on the invigil.v1 subprotocol"}
	}
	conn.SetReadLimit(MaxFrameBytes)
	info := c.cfg.Info
	hello, _ := json.Marshal(Control{
		Type: TypeHello, Protocol: ProtocolVersion, SessionID: c.cfg.SessionID,
		ConfigKey: c.cfg.ConfigKey, NextSeq: c.cfg.Spool.Status().NextSeq, Client: &info,
		Commands: []string{CommandKeyframe},
	})
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, hello); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("send hello: %w", err)
	}
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	typ, b, err := conn.ReadMessage()
	if err != nil {
		conn.Close()
		return nil, nil, closeErr("read welcome", err)
	}
	if typ != websocket.TextMessage {
		conn.Close()
		return nil, nil, errors.New("backend answered hello with a binary frame")
	}
	m, err := ParseControl(b)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("welcome: %w", err)
	}
	switch m.Type {
	case TypeWelcome:
		if m.SessionID != c.cfg.SessionID {
			conn.Close()
			return nil, nil, fmt.Errorf("welcome for session %s, not %s", m.SessionID, c.cfg.SessionID)
		}
		return conn, m, nil
	case TypeError:
		conn.Close()
		return nil, nil, &RemoteError{Code: m.Code, Message: m.Message}
	}
	conn.Close()
	return nil, nil, fmt.Errorf("backend answered hello with %q", m.Type)
}

// closeErr turns a websocket close into a RemoteError when the close code
// is one of the protocol's.
func closeErr(what string, err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if code := codeForCloseCode(ce.Code); code != "" {
			return &RemoteError{Code: code, Message: ce.Text}
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (c *Client) read(ctx context.Context, conn *websocket.Conn, gotAck *bool) error {
	dead := 3 * c.cfg.Heartbeat
	conn.SetReadDeadline(time.Now().Add(dead))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(dead)) })
	var remote *RemoteError
	for {
		typ, b, err := conn.ReadMessage()
		if err != nil {
			if remote != nil {
				return remote
			}
			return closeErr("read", err)
		}
		conn.SetReadDeadline(time.Now().Add(dead))
		if typ != websocket.TextMessage {
			return errors.New("backend sent a binary frame")
		}
		m, err := ParseControl(b)
		if err != nil {
			return err
		}
		switch m.Type {
		case TypeAck:
			if err := c.cfg.Spool.Ack(m.Seq); err != nil {
				return err
			}
			*gotAck = true
			if c.cfg.OnAck != nil {
				c.cfg.OnAck(m.Seq)
			}
			c.setStatus(func(*Status) {})
		case TypeCommand:
			select {
			case c.commands <- Command{ID: m.ID, Command: m.Command, Text: m.Text, At: m.At}:
			case <-ctx.Done():
				return ctx.Err()
			}
		case TypeFinished:
			c.mu.Lock()
			c.finished = &FinishResult{LastSeq: m.LastSeq, ServerDigest: m.Digest}
			c.mu.Unlock()
			c.cancel() // the session is over: stop the manager
			return nil
		case TypeError:
			remote = &RemoteError{Code: m.Code, Message: m.Message}
			c.log.Warn("backend error", "code", m.Code, "message", m.Message)
		default:
			return fmt.Errorf("unexpected %q from the backend", m.Type)
		}
	}
}

// write sends spooled frames from seq next on, in order, and control
// messages queued on ctrl.
func (c *Client) write(ctx context.Context, conn *websocket.Conn, next uint64, ctrl <-chan []byte, cp *checkpointer) error {
	send := func(typ int, b []byte) error {
		conn.SetWriteDeadline(time.Now().Add(3 * c.cfg.Heartbeat))
		return conn.WriteMessage(typ, b)
	}
	// A checkpoint goes first on every connection, and then ahead of the
	// spooled data whenever one is due (checkpoint.go).
	checkpoint := func(force bool) error {
		if b := cp.due(c.cfg.Spool, time.Now(), force); b != nil {
			if err := send(websocket.TextMessage, b); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		return nil
	}
	if err := checkpoint(true); err != nil {
		return err
	}
	for {
		if err := checkpoint(false); err != nil {
			return err
		}
		select {
		case b := <-ctrl:
			if err := send(websocket.TextMessage, b); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			continue
		default:
		}
		if a := c.cfg.Spool.ackedThrough(); next <= a {
			next = a + 1
		}
		ready, wake, err := c.cfg.Spool.poll(next)
		if err != nil {
			return err
		}
		if ready {
			frame, err := c.cfg.Spool.Read(next)
			if err != nil {
				if next <= c.cfg.Spool.ackedThrough() {
					continue // acked while we looked
				}
				if errors.Is(err, ErrSpoolCorrupt) {
					// Everything before next is sent; cut the spool at next.
					dmg, rerr := c.cfg.Spool.Repair(next - 1)
					if rerr != nil {
						return fmt.Errorf("repair spool: %w", rerr)
					}
					if dmg != nil {
						c.reportDamage(dmg)
						continue
					}
				}
				return err
			}
			if err := send(websocket.BinaryMessage, frame); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			next++
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case b := <-ctrl:
			if err := send(websocket.TextMessage, b); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		case <-wake:
		}
	}
}

func (c *Client) ping(ctx context.Context, conn *websocket.Conn) error {
	t := time.NewTicker(c.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.Heartbeat)); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		}
	}
}

// dispatch hands commands to the Handler once per id, then acks them.
func (c *Client) dispatch() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case cmd := <-c.commands:
			c.mu.Lock()
			seen := c.seen[cmd.ID]
			c.seen[cmd.ID] = true
			c.mu.Unlock()
			if !seen && c.cfg.Handler != nil {
				c.cfg.Handler.Command(c.ctx, cmd)
			}
			// The ack may be lost with the connection; the backend then
			// resends the command after the next welcome, and it is acked
			// again without being handled twice.
			b, _ := json.Marshal(Control{Type: TypeCommandAck, ID: cmd.ID})
			c.mu.Lock()
			ctrl := c.ctrl
			c.mu.Unlock()
			if ctrl != nil {
				select {
				case ctrl <- b:
				default:
				}
			}
		}
	}
}
