//go:build invigil_uitest

package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
)

// TestDriverBuilt reports whether this build has the UI test driver.
const TestDriverBuilt = true

// TestDriver lets an end-to-end test drive the real app the way a student
// does, through a unix socket that exists only when `invigil run` is given
// --ui-test-control. It is built only with the build tag invigil_uitest,
// which the tests use (go test -tags invigil_uitest; the e2e tests build
// their invigil that way): what students install has neither the driver
// nor the flag (testdriver_off.go). it waits for screens, taps buttons by their text,
// types into entries and reports where a button is on screen (for a real
// click with xdotool). It can do nothing a student cannot do with the
// mouse and keyboard. One JSON request per line, one JSON answer per line:
//
//	{"op":"wait","screen":"check","until":"check_ready","timeout_ms":20000}
//	{"op":"tap","label":"I agree"}
//	{"op":"type","placeholder":"Join code, e.g. PHYS1","text":"E2E"}
//	{"op":"locate","label":"Continue"}
//	{"op":"focused"}
//	{"op":"state"}
//
// locate answers in Fyne's units, relative to the window, with the
// window's scale (pixels per unit); focused names what has the keyboard
// focus in detail: a button's text, "entry:" and an entry's placeholder,
// or nothing.
type TestDriver struct {
	app *App
	ln  net.Listener
	log *slog.Logger
	wg  sync.WaitGroup

	mu      sync.Mutex
	state   client.State
	changed chan struct{} // closed and replaced on every render
	conns   map[net.Conn]bool
	closed  bool
	done    chan struct{} // closed by Close: pending waits give up
}

// StartTestDriver listens on the unix socket path and serves the driver
// protocol until Close. Call it before the app runs; it hooks Render.
// "tcp:127.0.0.1:PORT" listens on that loopback port instead, for Wine 8,
// which has no AF_UNIX sockets (the Windows stage of the tests); any other
// TCP address is refused.
func StartTestDriver(a *App, path string, log *slog.Logger) (*TestDriver, error) {
	ln, err := listenDriver(path)
	if err != nil {
		return nil, fmt.Errorf("test driver: %w", err)
	}
	d := &TestDriver{app: a, ln: ln, log: log, changed: make(chan struct{}), conns: map[net.Conn]bool{},
		done: make(chan struct{})}
	a.rendered = d.onRender
	d.wg.Go(d.serve)
	return d, nil
}

func listenDriver(path string) (net.Listener, error) {
	if addr, ok := strings.CutPrefix(path, "tcp:"); ok {
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("%q: only a loopback address such as tcp:127.0.0.1:0", path)
		}
		return net.Listen("tcp", addr)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	os.Chmod(path, 0o600)
	return ln, nil
}

// onRender runs on the UI goroutine after every Render.
func (d *TestDriver) onRender(s client.State) {
	d.mu.Lock()
	d.state = s
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

// Close stops the driver, closes its connections, ends the requests in
// progress (a wait answers "driver closed") and waits for its goroutines.
func (d *TestDriver) Close() error {
	err := d.ln.Close()
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.done)
	}
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
	return err
}

func (d *TestDriver) serve() {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			c.Close()
			return
		}
		d.conns[c] = true
		d.mu.Unlock()
		conns.Go(func() {
			defer func() {
				d.mu.Lock()
				delete(d.conns, c)
				d.mu.Unlock()
				c.Close()
			}()
			sc := bufio.NewScanner(c)
			enc := json.NewEncoder(c)
			for sc.Scan() {
				var req DriverRequest
				var rep DriverReply
				if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
					rep.Error = "bad request: " + err.Error()
				} else {
					rep = d.do(req)
				}
				if enc.Encode(rep) != nil {
					return
				}
			}
		})
	}
}

func (d *TestDriver) do(req DriverRequest) DriverReply {
	switch req.Op {
	case "state":
		d.mu.Lock()
		s := d.state
		d.mu.Unlock()
		return DriverReply{OK: true, Screen: string(s.Screen), Version: s.Version, Detail: detail(s)}
	case "wait":
		return d.wait(req)
	case "tap", "locate":
		var rep DriverReply
		fyne.DoAndWait(func() {
			b := d.app.Button(req.Label)
			if b == nil {
				rep.Error = fmt.Sprintf("no enabled button %q on the %s screen", req.Label, d.app.state.Screen)
				return
			}
			if req.Op == "tap" {
				b.Tapped(&fyne.PointEvent{})
			} else {
				pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(b)
				rep.X, rep.Y, rep.W, rep.H = pos.X, pos.Y, b.Size().Width, b.Size().Height
				rep.Scale = d.app.win.Canvas().Scale()
			}
			rep.OK = true
		})
		return rep
	case "focused":
		rep := DriverReply{OK: true}
		fyne.DoAndWait(func() {
			rep.Screen = string(d.app.state.Screen)
			switch f := d.app.win.Canvas().Focused().(type) {
			case *Button:
				rep.Detail = f.Text
			case *widget.Entry:
				rep.Detail = "entry:" + f.PlaceHolder
			case *guardedEntry:
				rep.Detail = "entry:" + f.PlaceHolder
			case nil:
			default:
				rep.Detail = fmt.Sprintf("%T", f)
			}
		})
		return rep
	case "type":
		var rep DriverReply
		fyne.DoAndWait(func() {
			e := d.app.Entry(req.Placeholder)
			if e == nil {
				rep.Error = fmt.Sprintf("no entry %q on the %s screen", req.Placeholder, d.app.state.Screen)
				return
			}
			e.SetText(req.Text)
			rep.OK = true
		})
		return rep
	}
	return DriverReply{Error: "unknown op " + req.Op}
}

// wait waits until the rendered screen is req.Screen and the condition
// req.Until holds.
func (d *TestDriver) wait(req DriverRequest) DriverReply {
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		d.mu.Lock()
		s, ch := d.state, d.changed
		d.mu.Unlock()
		ok, err := matches(s, req)
		if err != nil {
			return DriverReply{Error: err.Error()}
		}
		if ok {
			return DriverReply{OK: true, Screen: string(s.Screen), Version: s.Version, Detail: detail(s)}
		}
		select {
		case <-ch:
		case <-d.done:
			return DriverReply{Error: "driver closed", Screen: string(s.Screen)}
		case <-ctx.Done():
			return DriverReply{Error: fmt.Sprintf("timed out waiting for %s/%s; the app shows %s (%s)", req.Screen, req.Until, s.Screen, detail(s)),
				Screen: string(s.Screen)}
		}
	}
}

// conditions are what a wait can ask for beyond the screen.
var conditions = map[string]func(client.State) bool{
	"":              func(client.State) bool { return true },
	"check_ready":   func(s client.State) bool { return s.Check != nil && s.Check.CanContinue },
	"photo_live":    func(s client.State) bool { return s.Photo != nil && s.Photo.Step == client.PhotoLive },
	"photo_taken":   func(s client.State) bool { return s.Photo != nil && s.Photo.Step == client.PhotoTaken },
	"scanning":      func(s client.State) bool { return s.RoomScan != nil && s.RoomScan.Step == client.RoomScanScanning },
	"message":       func(s client.State) bool { return s.Exam != nil && len(s.Exam.Messages) > 0 },
	"replied":       func(s client.State) bool { return s.Exam != nil && len(s.Exam.Messages) > 1 },
	"warning":       func(s client.State) bool { return s.Exam != nil && s.Exam.Warning != nil },
	"no_warning":    func(s client.State) bool { return s.Exam != nil && s.Exam.Warning == nil },
	"paused":        func(s client.State) bool { return s.Exam != nil && s.Exam.Paused && s.Exam.Warning == nil },
	"running":       func(s client.State) bool { return s.Exam != nil && !s.Exam.Paused && s.Exam.Warning == nil },
	"confirm":       func(s client.State) bool { return s.Exam != nil && s.Exam.ConfirmFinish },
	"no_confirm":    func(s client.State) bool { return s.Exam != nil && !s.Exam.ConfirmFinish },
	"uploaded":      func(s client.State) bool { return s.Exam != nil && s.Exam.BacklogMessages == 0 && s.Exam.Connected },
	"retry_pending": func(s client.State) bool { return s.Error != nil && !s.Error.RetryAt.IsZero() },
}

func matches(s client.State, req DriverRequest) (bool, error) {
	cond, ok := conditions[req.Until]
	if !ok {
		return false, errors.New("unknown condition " + req.Until)
	}
	return string(s.Screen) == req.Screen && cond(s), nil
}

func detail(s client.State) string {
	switch {
	case s.Error != nil:
		return string(s.Error.Kind) + ": " + s.Error.Title + " (" + s.Error.Detail + ")"
	case s.Busy != nil:
		return s.Busy.Title
	case s.Check != nil:
		return fmt.Sprintf("running=%v continue=%v blocking=%q", s.Check.Running, s.Check.CanContinue, s.Check.Blocking)
	case s.Receipt != nil:
		b, _ := json.Marshal(s.Receipt.Receipt)
		return string(b)
	}
	return ""
}
