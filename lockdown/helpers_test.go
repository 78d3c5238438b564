package lockdown

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/invigil/invigil/lockdown/lockdowntest"
	"go.uber.org/goleak"
)

// TestMain doubles as the helper processes the tests start (re-exec of the
// test binary with INVIGIL_TEST_HELPER set), and checks for leaked
// goroutines.
func TestMain(m *testing.M) {
	switch os.Getenv("INVIGIL_TEST_HELPER") {
	case "listen":
		lockdowntest.ListenVNC()
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Minute)
		return
	}
	goleak.VerifyTestMain(m)
}

// startListener starts a helper process listening on a VNC port and
// returns it and the port.
func startListener(t *testing.T) (*exec.Cmd, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "INVIGIL_TEST_HELPER=listen")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	port, _ := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || port == 0 {
		t.Fatalf("listener helper: %q, %v (ports 5900-5909 all busy?)", line, err)
	}
	return cmd, port
}

// copySleep copies /bin/sleep to dir/name and returns the path and the
// copy's SHA-256.
func copySleep(t testing.TB, dir, name string) (string, string) {
	t.Helper()
	src, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal("no sleep binary: coreutils is part of every Linux this runs on")
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	path := filepath.Join(dir, name)
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path, hex.EncodeToString(h.Sum(nil))
}

// proc is a child process reaped by its own goroutine, as a real parent
// would, so that a test never calls Wait concurrently with the cleanup.
type proc struct {
	*exec.Cmd
	exited chan struct{} // closed once the process has exited and been reaped
}

// stop kills the process and returns once it is reaped.
func (p *proc) stop() {
	p.Process.Kill()
	<-p.exited
}

// startProc starts path with a long sleep and kills it at cleanup.
func startProc(t *testing.T, path string) *proc {
	t.Helper()
	cmd := exec.Command(path, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{Cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.stop)
	return p
}
