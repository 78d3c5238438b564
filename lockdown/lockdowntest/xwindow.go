package lockdowntest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// XWindow is another program's window on an X display: a copy of
// xmessage (Debian x11-utils) under a chosen name, so that process-name
// rules can allow or prohibit it.
type XWindow struct {
	Cmd    *exec.Cmd
	ID     uint32 // the X window id
	Exe    string // the copy's path
	exited chan struct{}
}

// StartXWindow copies xmessage to dir/name and shows a message window with
// a unique title on display at +x+y, and returns once the window is mapped
// (found with xdotool). Stop it with Close.
func StartXWindow(display, dir, name string, x, y int) (*XWindow, error) {
	src, err := exec.LookPath("xmessage")
	if err != nil {
		return nil, fmt.Errorf("xmessage (Debian x11-utils) is needed: %w", err)
	}
	exe := filepath.Join(dir, name)
	if err := copyExe(src, exe); err != nil {
		return nil, err
	}
	title := fmt.Sprintf("invigil-test-%s-%d", name, time.Now().UnixNano())
	cmd := exec.Command(exe, "-title", title, "-geometry", fmt.Sprintf("+%d+%d", x, y), "A window of "+name)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &XWindow{Cmd: cmd, Exe: exe, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(w.exited) }()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		out, err := Xdotool(ctx, display, "search", "--onlyvisible", "--name", "^"+title+"$")
		if err == nil {
			if f := strings.Fields(out); len(f) > 0 {
				id, err := strconv.ParseUint(f[0], 10, 32)
				if err == nil {
					w.ID = uint32(id)
					return w, nil
				}
			}
		}
		select {
		case <-w.exited:
			return nil, fmt.Errorf("%s exited before its window showed", name)
		case <-time.After(50 * time.Millisecond):
		}
	}
	w.Close()
	return nil, fmt.Errorf("the window of %s did not show within 15 s", name)
}

// PID is the program's process id.
func (w *XWindow) PID() int { return w.Cmd.Process.Pid }

// Close kills the program and waits for it.
func (w *XWindow) Close() {
	w.Cmd.Process.Kill()
	<-w.exited
}

// Xdotool runs xdotool on display and returns its output.
func Xdotool(ctx context.Context, display string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "xdotool", args...)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), fmt.Errorf("xdotool %s: %w: %s", strings.Join(args, " "), err, ee.Stderr)
		}
		return string(out), fmt.Errorf("xdotool %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// Focus gives the X input focus to window id on display (xdotool
// windowfocus: XSetInputFocus, which needs no window manager).
func Focus(display string, id uint32) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Xdotool(ctx, display, "windowfocus", strconv.FormatUint(uint64(id), 10))
	return err
}

func copyExe(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
