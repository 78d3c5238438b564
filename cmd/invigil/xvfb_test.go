package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// startXvfb starts an Xvfb server with the given screens (e.g.
// "1280x720x24"; two or more are joined with Xinerama) and returns its
// DISPLAY value once it accepts connections.
//
// It picks a display number with neither a lock file nor a socket: a killed
// Xvfb can leave /tmp/.X11-unix/XN behind, and `Xvfb -displayfd` then
// happily picks N and serves nobody (seen here).
func startXvfb(t *testing.T, screens ...string) string {
	t.Helper()
	if _, err := exec.LookPath("Xvfb"); err != nil {
		t.Fatal("Xvfb not installed: run scripts/setup.sh")
	}
	for attempt := 0; attempt < 5; attempt++ {
		n := 100 + rand.N(800)
		lock, sock := fmt.Sprintf("/tmp/.X%d-lock", n), fmt.Sprintf("/tmp/.X11-unix/X%d", n)
		if exists(lock) || exists(sock) {
			continue
		}
		args := []string{fmt.Sprintf(":%d", n), "-nolisten", "tcp"}
		for i, s := range screens {
			args = append(args, "-screen", fmt.Sprint(i), s)
		}
		if len(screens) > 1 {
			args = append(args, "+xinerama")
		}
		cmd := exec.Command("Xvfb", args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM) // Xvfb removes its lock and socket
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		})
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if c, err := net.Dial("unix", sock); err == nil {
				c.Close()
				return fmt.Sprintf(":%d", n)
			}
			if cmd.ProcessState != nil {
				break
			}
		}
	}
	t.Fatal("could not start Xvfb")
	return ""
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
