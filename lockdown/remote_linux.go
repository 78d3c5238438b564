package lockdown

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/process"
)

// detectRemote on Linux: SSH variables in the environment; xrdp's session
// variables; an X server on our DISPLAY that is a VNC server (Xvnc,
// Xtigervnc) or xrdp's Xorg; other logins over SSH (sshd session processes,
// utmp entries with a remote host).
//
// procs is a recent snapshot of the processes (the Monitor's scanner has
// one); nil means list them here.
func detectRemote(ctx context.Context, env envFunc, procs []procInfo) (remoteEvidence, error) {
	ev := remoteEvidence{facts: map[string]string{}}
	sshEnv(env, &ev)
	for _, k := range []string{"XRDP_SESSION", "XRDP_SOCKET_PATH"} {
		if v := env(k); v != "" {
			ev.facts["env."+k] = v
			ev.current = append(ev.current, "this is an xrdp (RDP) session")
			break
		}
	}
	display := env("DISPLAY")
	if procs == nil {
		pids, err := process.PidsWithContext(ctx)
		if err != nil {
			return ev, fmt.Errorf("list processes: %w", err)
		}
		for _, pid := range pids {
			if name, _, err := readIdentity(pid); err == nil {
				procs = append(procs, procInfo{pid: pid, name: name})
			}
		}
	}
	sshd := 0
	for _, p := range procs {
		pid, name := p.pid, p.name
		switch name {
		case "sshd", "sshd-session":
			args := cmdline(pid)
			// "sshd: alice@pts/0" (or "sshd-session: alice@notty") is a
			// session; the listener is "sshd: /usr/sbin/sshd -D ...".
			if strings.Contains(args, "@") && !strings.Contains(args, "[priv]") {
				sshd++
				ev.others = append(ev.others, "SSH login "+strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(args, "sshd-session:"), "sshd:")))
			}
		case "Xvnc", "Xtigervnc", "Xvnc-core", "Xorg", "Xvfb":
			args := cmdline(pid)
			if display == "" || !servesDisplay(args, display) {
				continue
			}
			ev.facts["x_server"] = args
			switch {
			case name != "Xorg" && name != "Xvfb":
				ev.current = append(ev.current, "the display "+display+" is a VNC server ("+name+")")
			case strings.Contains(args, "xrdp"):
				ev.current = append(ev.current, "the display "+display+" is an xrdp session")
			}
		}
	}
	ev.facts["ssh_sessions"] = strconv.Itoa(sshd)
	if users, err := host.UsersWithContext(ctx); err == nil {
		for _, u := range users {
			if u.Host != "" && !strings.HasPrefix(u.Host, ":") {
				ev.others = append(ev.others, fmt.Sprintf("%s on %s from %s", u.User, u.Terminal, u.Host))
			}
		}
	}
	return ev, nil
}

func cmdline(pid int32) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/cmdline")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
}

// servesDisplay reports whether an X server's command line names display
// (":1" in "Xvnc :1 -geometry ..." serves DISPLAY=":1" and ":1.0").
func servesDisplay(args, display string) bool {
	d, _, _ := strings.Cut(strings.TrimPrefix(display, "unix"), ".")
	for _, a := range strings.Fields(args) {
		if a == d {
			return true
		}
	}
	return false
}
