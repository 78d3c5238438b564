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
	Spool     *Spool // what it delivers (producers Append to it); the Client does not close it
	Handler   Handler
	// OnStatus, if set, is called when the status changes, from one
	// goroutine of the Client's own, never a connection's: a slow OnStatus
	// does not hold up the upload. Changes that come while it runs are
	// coalesced: the next call carries the latest status. The final status
	// (after Finish, Close or a permanent error) is always delivered.
	OnStatus func(Status)
	// OnAck, if set, is called with each cumulative ack as it arrives, on
	// the connection's reader: it must return at once (it exists to time
	// acks in benchmarks).
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
	// statusCh (capacity 1) tells the status goroutine that the status
	// changed.
	statusCh chan struct{}

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
		statusCh: make(chan struct{}, 1),
		done:     make(chan struct{}),
		seen:     map[string]bool{},
		status:   Status{Spool: cfg.Spool.Status()},
	}, nil
}

// Start starts the connection manager, the command dispatcher and the
// status notifier.
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
	if c.cfg.OnStatus != nil {
		c.wg.Go(c.notifyStatus)
	}
}

// Spool is the spool the client delivers: producers append to it
// (Spool.Append), and the writer sends what it holds.
func (c *Client) Spool() *Spool { return c.cfg.Spool }

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

// setStatus changes the status and wakes the status notifier; it never
// waits for OnStatus.
func (c *Client) setStatus(f func(*Status)) {
	c.mu.Lock()
	f(&c.status)
	c.mu.Unlock()
	select {
	case c.statusCh <- struct{}{}:
	default: // a notification is pending already: it will carry this change
	}
}

// notifyStatus calls OnStatus with the latest status after each change,
// until the manager has stopped and its last change is delivered.
func (c *Client) notifyStatus() {
	for {
		select {
		case <-c.statusCh:
			c.cfg.OnStatus(c.Status())
		case <-c.done:
			// No status changes after the manager stops: deliver the last
			// one, if it is still pending.
			select {
			case <-c.statusCh:
				c.cfg.OnStatus(c.Status())
			default:
			}
			return
		}
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
