// Package lockdowntest holds the bodies of helper processes that tests of
// several packages start to be detected: a test binary re-executes itself
// with an environment variable set and calls one of these instead of
// running its tests. It imports nothing of the project and no testing.
package lockdowntest

import (
	"fmt"
	"net"
	"os"
	"strconv"
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
