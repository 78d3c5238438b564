// Package lockdowntest holds what tests of several packages use to start
// processes to be detected: the bodies of helper processes (a test binary
// re-executes itself with an environment variable set and calls one of
// these instead of running its tests), starting them, and copies of sleep
// under a prohibited name. It imports nothing of the project and no
// testing: its functions return errors for the caller to t.Fatal.
package lockdowntest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ListenVNC listens on the first free port of 5900..5909 on 127.0.0.1 (a
// VNC port every remote-access policy names), prints the port on stdout
// once it is open, and serves until the process is killed. It exits the
// process: 0 when the listener is closed, 1 (after printing 0) when every
// port is taken.
func ListenVNC() {
	for port := 5900; port <= 5909; port++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		fmt.Println(port)
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(0)
			}
			c.Close()
		}
	}
	fmt.Println(0)
	os.Exit(1)
}

// StartListener starts cmd, a helper process that calls ListenVNC, and
// returns the port it listens on once it does. cmd.Stdout must be nil: the
// port is read from a pipe. On success the caller owns the process (kill
// and Wait it at cleanup); on an error StartListener has killed and reaped
// it, if it started at all.
func StartListener(cmd *exec.Cmd) (int, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	port, _ := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || port == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, fmt.Errorf("listener helper printed %q, %v (ports 5900-5909 all busy?)", line, err)
	}
	return port, nil
}

// CopySleep copies the sleep binary to dir/name, executable, and returns
// the copy's path and SHA-256 (hex): a process the policy prohibits by
// name or by hash that does nothing.
func CopySleep(dir, name string) (path, sum string, err error) {
	src, err := exec.LookPath("sleep")
	if err != nil {
		return "", "", errors.New("no sleep binary: coreutils is part of every Linux this runs on")
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return "", "", err
	}
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o755); err != nil {
		return "", "", err
	}
	h := sha256.Sum256(b)
	return path, hex.EncodeToString(h[:]), nil
}
