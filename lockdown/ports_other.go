//go:build !linux

package lockdown

import (
	"context"
	"net"
	"strconv"

	gnet "github.com/shirou/gopsutil/v4/net"
)

// listeners asks gopsutil for the TCP sockets, which gives the owning pid
// directly (GetExtendedTcpTable on Windows; on macOS it runs lsof, which is
// slow, so the monitor polls ports less often there).
func listeners(ctx context.Context) ([]listener, error) {
	conns, err := gnet.ConnectionsWithContext(ctx, "tcp")
	if err != nil {
		return nil, err
	}
	var out []listener
	for _, c := range conns {
		if c.Status != "LISTEN" {
			continue
		}
		out = append(out, listener{port: int(c.Laddr.Port), addr: net.JoinHostPort(c.Laddr.IP, strconv.Itoa(int(c.Laddr.Port))), pid: c.Pid})
	}
	return out, nil
}

func socketOwners(context.Context, map[uint64]bool) map[uint64]int32 { return nil }
