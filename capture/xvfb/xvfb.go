package xvfb

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// ErrNotInstalled reports that there is no Xvfb binary (scripts/setup.sh
// installs it).
var ErrNotInstalled = errors.New("Xvfb is not installed (scripts/setup.sh installs it)")

// Server is a running Xvfb.
type Server struct {
	display string
	cmd     *exec.Cmd
	done    chan struct{}
}

// Start starts Xvfb with one screen per entry of screens ("1280x720x24");
// two or more screens are joined with Xinerama, which is how
// kbinani/screenshot and the capture layer see several monitors.
func Start(screens ...string) (*Server, error) {
	if _, err := exec.LookPath("Xvfb"); err != nil {
		return nil, ErrNotInstalled
	}
	if len(screens) == 0 {
		screens = []string{"1280x720x24"}
	}
	var lastErr error
	for attempt := 0; attempt < 8; attempt++ {
		n := 100 + rand.N(800)
		sock := fmt.Sprintf("/tmp/.X11-unix/X%d", n)
		if exists(fmt.Sprintf("/tmp/.X%d-lock", n)) || exists(sock) {
			continue
		}
		args := []string{fmt.Sprintf(":%d", n), "-nolisten", "tcp", "-noreset"}
		for i, s := range screens {
			args = append(args, "-screen", fmt.Sprint(i), s)
		}
		if len(screens) > 1 {
			args = append(args, "+xinerama")
		}
		s := &Server{display: fmt.Sprintf(":%d", n), cmd: exec.Command("Xvfb", args...), done: make(chan struct{})}
		if err := s.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start Xvfb: %w", err)
		}
		go func() { s.cmd.Wait(); close(s.done) }()
		if err := s.waitReady(sock); err != nil {
			lastErr = err
			s.Close()
			continue
		}
		return s, nil
	}
	return nil, fmt.Errorf("start Xvfb: %w", lastErr)
}

func (s *Server) waitReady(sock string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("Xvfb exited at start (display number taken?)")
		default:
		}
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("Xvfb did not accept connections within 10 s")
}

// Display is the DISPLAY value, ":N".
func (s *Server) Display() string { return s.display }

// Close stops the server politely (it removes its lock file and socket),
// then by force. It is idempotent.
func (s *Server) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
