package lockdown

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// listeners reads /proc/net/tcp and tcp6: a few kilobytes, cheap enough for
// every poll. The owning process is found separately from the socket inode.
func listeners(_ context.Context) ([]listener, error) {
	var out []listener
	var firstErr error
	read := 0
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		read++
		out = append(out, parseProcNetTCP(b)...)
	}
	if read == 0 {
		return nil, firstErr
	}
	return out, nil
}

const tcpListen = "0A"

func parseProcNetTCP(b []byte) []listener {
	var out []listener
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != tcpListen {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			continue
		}
		inode, _ := strconv.ParseUint(f[9], 10, 64)
		out = append(out, listener{port: int(port), addr: decodeProcAddr(hexAddr), inode: inode})
	}
	return out
}

// decodeProcAddr decodes /proc/net/tcp's address: 32-bit words in host
// (little-endian) order.
func decodeProcAddr(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return h
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap().String()
}

// socketOwners walks /proc/*/fd for the given socket inodes. It only sees
// the processes this user may inspect.
func socketOwners(_ context.Context, want map[uint64]bool) map[uint64]int32 {
	found := map[uint64]int32{}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return found
	}
	for _, d := range dirs {
		pid, err := strconv.ParseInt(d.Name(), 10, 32)
		if err != nil {
			continue
		}
		fdDir := "/proc/" + d.Name() + "/fd/"
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(fdDir + fd.Name())
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
			if err == nil && want[ino] {
				found[ino] = int32(pid)
				if len(found) == len(want) {
					return found
				}
			}
		}
	}
	return found
}
