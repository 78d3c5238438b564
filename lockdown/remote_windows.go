package lockdown

import (
	"context"
	"strings"

	"golang.org/x/sys/windows"
)

var procGetSystemMetrics = windows.NewLazySystemDLL("user32.dll").NewProc("GetSystemMetrics")

// smRemoteSession is SM_REMOTESESSION: non-zero in a Remote Desktop session.
const smRemoteSession = 0x1000

// detectRemote on Windows: GetSystemMetrics(SM_REMOTESESSION), the session
// name ("RDP-Tcp#3") and the SSH variables of Windows' OpenSSH server.
func detectRemote(_ context.Context, env envFunc, _ []procInfo) (remoteEvidence, error) {
	ev := remoteEvidence{facts: map[string]string{}}
	sshEnv(env, &ev)
	if err := procGetSystemMetrics.Find(); err != nil {
		return ev, err
	}
	r, _, _ := procGetSystemMetrics.Call(smRemoteSession)
	if r != 0 {
		ev.facts["SM_REMOTESESSION"] = "1"
		ev.current = append(ev.current, "this is a Remote Desktop session")
	} else {
		ev.facts["SM_REMOTESESSION"] = "0"
	}
	if s := env("SESSIONNAME"); s != "" {
		ev.facts["env.SESSIONNAME"] = s
		if strings.HasPrefix(strings.ToUpper(s), "RDP-") && r == 0 {
			ev.current = append(ev.current, "the session name is "+s)
		}
	}
	return ev, nil
}
