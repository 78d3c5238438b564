package launch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrOtherInstance is returned by ClaimInstance when another client is
// already running; the link has been handed to it.
var ErrOtherInstance = errors.New("another Invigil window is already open")

// Instance is this process's claim to be the only running client: a unix
// socket (AF_UNIX, also on Windows 10 and later) in the user's runtime
// directory, on which a second launch hands over its join link and exits.
// Close stops listening and removes the socket.
type Instance struct {
	path  string
	ln    net.Listener
	links chan string
	log   *slog.Logger
	wg    sync.WaitGroup
	once  sync.Once
}

const (
	instanceHello   = "invigil-link 1"
	instanceTimeout = 3 * time.Second
)

// InstanceSocketPath is where the instance socket lives: in
// $XDG_RUNTIME_DIR when set (Linux desktops), else in the user cache
// directory. Both are private to the user.
func InstanceSocketPath() (string, error) {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "invigil", "instance.sock"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("instance socket: %w", err)
	}
	return filepath.Join(d, "invigil", "instance.sock"), nil
}

// ClaimInstance makes this process the running instance, listening on the
// socket at path. If another instance answers there, it hands it link
// (empty: just bring the window forward) and returns ErrOtherInstance. A
// socket left behind by a crashed instance is replaced.
func ClaimInstance(path, link string, log *slog.Logger) (*Instance, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("instance socket: %w", err)
	}
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("unix", path)
		if err == nil {
			os.Chmod(path, 0o600)
			inst := &Instance{path: path, ln: ln, links: make(chan string, 8), log: log}
			inst.wg.Go(inst.serve)
			return inst, nil
		}
		if attempt == 2 {
			return nil, fmt.Errorf("instance socket %s: %w", path, err)
		}
		// Someone has the path: a running instance, or a stale socket.
		switch herr := handOver(path, link); {
		case herr == nil:
			return nil, ErrOtherInstance
		case errors.Is(herr, syscall.ECONNREFUSED), errors.Is(herr, syscall.ENOENT), isStaleSocket(herr):
			log.Info("removing a stale instance socket", "path", path)
			os.Remove(path)
		default:
			return nil, fmt.Errorf("instance socket %s is in use but does not answer: %w", path, herr)
		}
	}
}

// handOver sends link to the instance listening on path.
func handOver(path, link string) error {
	c, err := net.DialTimeout("unix", path, instanceTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(instanceTimeout))
	if _, err := fmt.Fprintf(c, "%s\n%s\n", instanceHello, link); err != nil {
		return err
	}
	line, err := bufio.NewReader(io.LimitReader(c, 64)).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "ok" {
		return fmt.Errorf("the running instance answered %q", line)
	}
	return nil
}

// Links delivers the links later launches hand over ("" when a launch had
// none: bring the window forward). It is closed by Close.
func (in *Instance) Links() <-chan string { return in.links }

func (in *Instance) serve() {
	defer close(in.links)
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := in.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				in.log.Warn("instance socket stopped", "err", err)
			}
			return
		}
		conns.Go(func() { in.handle(c) })
	}
}

func (in *Instance) handle(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(instanceTimeout))
	r := bufio.NewReader(io.LimitReader(c, int64(len(instanceHello))+MaxLinkLength+4))
	hello, err := r.ReadString('\n')
	if err != nil || strings.TrimSpace(hello) != instanceHello {
		return
	}
	link, err := r.ReadString('\n')
	if err != nil {
		return
	}
	link = strings.TrimRight(link, "\r\n")
	select {
	case in.links <- link:
	default:
		in.log.Warn("dropping a handed-over link: the window is not keeping up")
	}
	io.WriteString(c, "ok\n")
}

// Close stops listening, waits for the handlers and removes the socket. It
// is idempotent.
func (in *Instance) Close() error {
	var err error
	in.once.Do(func() {
		err = in.ln.Close()
		in.wg.Wait()
		// The listener removes a unix socket file it created on Close;
		// make sure on every OS.
		if rerr := os.Remove(in.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	})
	return err
}
