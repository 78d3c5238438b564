package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// This file is one connection: dial and hello, then its reader, writer and
// pinger until it fails. client.go is the manager around it: it
// reconnects with backoff, keeps the status, and finishes the session.

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
