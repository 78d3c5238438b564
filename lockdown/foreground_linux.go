package lockdown

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/res"
	"github.com/jezek/xgb/xproto"
)

func newForegroundSource(getenv func(string) string) foregroundSource {
	return &x11Foreground{getenv: getenv}
}

// x11Foreground asks the X server which window has the input focus, over
// one connection it keeps (like the display reader). The pid comes from
// the X-Resource extension where the server has it: the server learnt it
// from the client's socket, so a program cannot pass itself off as
// another one, which it could with _NET_WM_PID, a property every client
// sets for itself; _NET_WM_PID is the fallback.
type x11Foreground struct {
	getenv func(string) string
	conn   *xgb.Conn
	root   xproto.Window
	hasRes bool
	atoms  struct{ wmState, wmPID, wmClass xproto.Atom }
	// last is the previous answer, by the window that had the focus: while
	// the same window keeps it, one request (GetInputFocus) is enough. A
	// window id names one client's window: a destroyed window loses the
	// focus, and no other client can get its id.
	last struct {
		focus xproto.Window
		raw   rawForeground
	}
}

func (x *x11Foreground) close() {
	if x.conn != nil {
		x.conn.Close()
		x.conn = nil
	}
	x.last.focus = 0
}

func (x *x11Foreground) dial(display string) error {
	c, err := xgb.NewConnDisplay(display)
	if err != nil {
		return err
	}
	x.conn, x.root = c, xproto.Setup(c).DefaultScreen(c).Root
	x.hasRes = res.Init(c) == nil
	for _, a := range []struct {
		name string
		to   *xproto.Atom
	}{{"WM_STATE", &x.atoms.wmState}, {"_NET_WM_PID", &x.atoms.wmPID}, {"WM_CLASS", &x.atoms.wmClass}} {
		r, err := xproto.InternAtom(c, false, uint16(len(a.name)), a.name).Reply()
		if err != nil {
			x.close()
			return err
		}
		*a.to = r.Atom
	}
	return nil
}

func (x *x11Foreground) read() (rawForeground, error) {
	if x.getenv("WAYLAND_DISPLAY") != "" || x.getenv("XDG_SESSION_TYPE") == "wayland" {
		// X11 clients under XWayland see only each other: a Wayland
		// window taking the focus would look like nobody.
		return rawForeground{}, fmt.Errorf("Wayland: %w", ErrUnsupported)
	}
	display := x.getenv("DISPLAY")
	if display == "" {
		x.close()
		return rawForeground{}, errNoDisplay
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
		}
		if x.conn == nil {
			if err := x.dial(display); err != nil {
				lastErr = err
				continue
			}
		}
		f, err := x.focused()
		if err == nil {
			return f, nil
		}
		lastErr = err
		var werr xproto.WindowError
		if errors.As(err, &werr) {
			continue // the window went away while we looked: ask again
		}
		x.close() // the connection broke: dial again
	}
	return rawForeground{}, fmt.Errorf("X server on DISPLAY=%s: %w", display, lastErr)
}

// focused finds the focused window's top-level client window and its pid.
func (x *x11Foreground) focused() (rawForeground, error) {
	r, err := xproto.GetInputFocus(x.conn).Reply()
	if err != nil {
		return rawForeground{}, err
	}
	w := r.Focus
	if w == xproto.InputFocusPointerRoot {
		// The focus follows the pointer (the X default, without a window
		// manager): the keyboard types into the top-level window under it.
		p, err := xproto.QueryPointer(x.conn, x.root).Reply()
		if err != nil {
			return rawForeground{}, err
		}
		w = p.Child
	}
	if w == xproto.WindowNone || w == x.root {
		return rawForeground{nobody: true}, nil
	}
	if w == x.last.focus {
		return x.last.raw, nil
	}
	f, err := x.describe(w)
	if err != nil {
		return rawForeground{}, err
	}
	x.last.focus, x.last.raw = w, f
	return f, nil
}

// describe finds the top-level client window of the focused window w and
// its pid.
func (x *x11Foreground) describe(w xproto.Window) (rawForeground, error) {
	// Walk up to the child of the root (the top-level window, or the
	// window manager's frame around it), remembering the way.
	chain := []xproto.Window{w}
	for {
		t, err := xproto.QueryTree(x.conn, w).Reply()
		if err != nil {
			return rawForeground{}, err
		}
		if t.Parent == x.root || t.Parent == xproto.WindowNone {
			break
		}
		w = t.Parent
		chain = append(chain, w)
		if len(chain) > 64 {
			return rawForeground{}, errors.New("window tree deeper than 64")
		}
	}
	// The client window is the one the window manager marked with
	// WM_STATE: on the way up, or below a frame that has the focus.
	client := xproto.Window(0)
	for i := len(chain) - 1; i >= 0 && client == 0; i-- {
		if x.hasProp(chain[i], x.atoms.wmState) {
			client = chain[i]
		}
	}
	if client == 0 {
		client = x.findWMState(chain[len(chain)-1], 3)
	}
	if client == 0 {
		client = chain[len(chain)-1] // no window manager: the top-level window is the client's
	}
	f := rawForeground{window: uint64(client)}
	if pid := x.resPID(client); pid > 0 {
		f.pid, f.pidFrom = pid, "x-resource"
	} else if pid := x.netWMPID(client); pid > 0 {
		f.pid, f.pidFrom = pid, "_NET_WM_PID"
	}
	if f.pid == 0 {
		f.class = x.wmClass(client)
	}
	return f, nil
}

func (x *x11Foreground) hasProp(w xproto.Window, atom xproto.Atom) bool {
	r, err := xproto.GetProperty(x.conn, false, w, atom, xproto.GetPropertyTypeAny, 0, 0).Reply()
	return err == nil && r.Type != xproto.AtomNone
}

// findWMState searches below w, depth levels deep, for a window with
// WM_STATE.
func (x *x11Foreground) findWMState(w xproto.Window, depth int) xproto.Window {
	if depth == 0 {
		return 0
	}
	t, err := xproto.QueryTree(x.conn, w).Reply()
	if err != nil {
		return 0
	}
	for _, c := range t.Children {
		if x.hasProp(c, x.atoms.wmState) {
			return c
		}
	}
	for _, c := range t.Children {
		if found := x.findWMState(c, depth-1); found != 0 {
			return found
		}
	}
	return 0
}

// resPID asks the X-Resource extension for the pid of the client that
// created w; 0 when the server cannot tell (a client on another machine,
// no extension).
func (x *x11Foreground) resPID(w xproto.Window) int {
	if !x.hasRes {
		return 0
	}
	r, err := res.QueryClientIds(x.conn, 1, []res.ClientIdSpec{{Client: uint32(w), Mask: res.ClientIdMaskLocalClientPID}}).Reply()
	if err != nil {
		return 0
	}
	for _, id := range r.Ids {
		if id.Spec.Mask&res.ClientIdMaskLocalClientPID != 0 && len(id.Value) > 0 {
			return int(id.Value[0])
		}
	}
	return 0
}

func (x *x11Foreground) netWMPID(w xproto.Window) int {
	r, err := xproto.GetProperty(x.conn, false, w, x.atoms.wmPID, xproto.AtomCardinal, 0, 1).Reply()
	if err != nil || r.Format != 32 || len(r.Value) < 4 {
		return 0
	}
	return int(xgb.Get32(r.Value))
}

// wmClass is the window's class ("XTerm"), a name when the process is not
// known.
func (x *x11Foreground) wmClass(w xproto.Window) string {
	r, err := xproto.GetProperty(x.conn, false, w, x.atoms.wmClass, xproto.AtomString, 0, 64).Reply()
	if err != nil || r.Format != 8 {
		return ""
	}
	// WM_CLASS is "instance\x00Class\x00".
	parts := bytes.Split(bytes.TrimRight(r.Value, "\x00"), []byte{0})
	return string(parts[len(parts)-1])
}
