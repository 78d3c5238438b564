package lockdown

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
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
	port, err := lockdowntest.StartListener(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, port
}

// copySleep copies sleep to dir/name and returns the path and the copy's
// SHA-256.
func copySleep(t testing.TB, dir, name string) (string, string) {
	t.Helper()
	path, sum, err := lockdowntest.CopySleep(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return path, sum
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
	return startCmd(t, exec.Command(path, "60"))
}

// startCmd starts cmd and kills it at cleanup.
func startCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{Cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.stop)
	return p
}
