package lockdown

import (
	"fmt"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

type x11Above struct {
	getenv func(string) string
	conn   *xgb.Conn
	root   xproto.Window
	width  int
	placed map[uint64]bool
	atoms  struct{ state, above, userTime xproto.Atom }
}

func newAboveImpl(getenv func(string) string) aboveImpl {
	return &x11Above{getenv: getenv, placed: map[uint64]bool{}}
}

func (x *x11Above) close() {
	if x.conn != nil {
		x.conn.Close()
		x.conn = nil
	}
}

func (x *x11Above) dial() error {
	display := x.getenv("DISPLAY")
	if display == "" {
		return errNoDisplay
	}
	c, err := xgb.NewConnDisplay(display)
	if err != nil {
		return fmt.Errorf("X server on DISPLAY=%s: %w", display, err)
	}
	s := xproto.Setup(c).DefaultScreen(c)
	x.conn, x.root, x.width = c, s.Root, int(s.WidthInPixels)
	for _, a := range []struct {
		name string
		to   *xproto.Atom
	}{{"_NET_WM_STATE", &x.atoms.state}, {"_NET_WM_STATE_ABOVE", &x.atoms.above}, {"_NET_WM_USER_TIME", &x.atoms.userTime}} {
		r, err := xproto.InternAtom(c, false, uint16(len(a.name)), a.name).Reply()
		if err != nil {
			x.close()
			return err
		}
		*a.to = r.Atom
	}
	return nil
}

func (x *x11Above) keep(window uint64) error {
	if x.conn == nil {
		if err := x.dial(); err != nil {
			return err
		}
	}
	w := xproto.Window(window)
	if !x.placed[window] {
		// The state for a window manager that maps it anew, and the
		// request a window manager honours for a mapped window (EWMH:
		// _NET_WM_STATE_ADD, source: an application).
		above := make([]byte, 4)
		xgb.Put32(above, uint32(x.atoms.above))
		xproto.ChangeProperty(x.conn, xproto.PropModeReplace, w, x.atoms.state, xproto.AtomAtom, 32, 1, above)
		ev := xproto.ClientMessageEvent{Format: 32, Window: w, Type: x.atoms.state,
			Data: xproto.ClientMessageDataUnionData32New([]uint32{1, uint32(x.atoms.above), 0, 1, 0})}
		xproto.SendEvent(x.conn, false, x.root, xproto.EventMaskSubstructureRedirect|xproto.EventMaskSubstructureNotify, string(ev.Bytes()))
		// Never the focus: WM_HINTS input false (flags InputHint and
		// StateHint, initial state normal) and a user time of 0 tell a
		// window manager not to focus it, now or when it maps it again;
		// clicks still reach it.
		hints := make([]byte, 9*4)
		xgb.Put32(hints[0:], 1|2)
		xgb.Put32(hints[8:], 1)
		xproto.ChangeProperty(x.conn, xproto.PropModeReplace, w, xproto.AtomWmHints, xproto.AtomWmHints, 32, 9, hints)
		xproto.ChangeProperty(x.conn, xproto.PropModeReplace, w, x.atoms.userTime, xproto.AtomCardinal, 32, 1, make([]byte, 4))
		x.placed[window] = true
	}
	g, err := xproto.GetGeometry(x.conn, xproto.Drawable(w)).Reply()
	if err != nil {
		x.close()
		delete(x.placed, window)
		return fmt.Errorf("indicator window %#x: %w", window, err)
	}
	left := max(0, x.width-int(g.Width)-aboveMargin)
	if err := xproto.ConfigureWindowChecked(x.conn, w, xproto.ConfigWindowX|xproto.ConfigWindowY|xproto.ConfigWindowStackMode,
		[]uint32{uint32(left), aboveMargin, xproto.StackModeAbove}).Check(); err != nil {
		x.close()
		delete(x.placed, window)
		return fmt.Errorf("raise window %#x: %w", window, err)
	}
	return nil
}
