package lockdown

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

func TestServesDisplay(t *testing.T) {
	tests := []struct {
		args, display string
		want          bool
	}{
		{"Xvnc :1 -geometry 1280x720", ":1", true},
		{"Xvnc :1 -geometry 1280x720", ":1.0", true},
		{"Xvnc :10", ":1", false},
		{"/usr/lib/xorg/Xorg :0 -auth x", ":0", true},
	}
	for _, tt := range tests {
		if got := servesDisplay(tt.args, tt.display); got != tt.want {
			t.Errorf("servesDisplay(%q, %q) = %v, want %v", tt.args, tt.display, got, tt.want)
		}
	}
}

func TestParseProcNetTCP(t *testing.T) {
	in := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:170C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 100 0 0 10 0
   2: 0100007F:170C 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 100 0 0 10 0
`
	got := parseProcNetTCP([]byte(in))
	want := []listener{{port: 5900, addr: "127.0.0.1", inode: 12345}, {port: 22, addr: "0.0.0.0", inode: 222}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	v6 := "  sl  local_address                         remote_address                        st\n" +
		"   0: 00000000000000000000000001000000:0D3D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1\n"
	if got := parseProcNetTCP([]byte(v6)); len(got) != 1 || got[0].addr != "::1" || got[0].port != 3389 {
		t.Errorf("v6: got %+v", got)
	}
}

// ClearClipboard runs the installed tool; here a fake xsel records its
// arguments.
func TestClearClipboard(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "args")
	script := "#!/bin/sh\necho \"$@\" > " + log + "\n"
	if err := os.WriteFile(filepath.Join(dir, "xsel"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	t.Setenv("DISPLAY", ":99")
	t.Setenv("WAYLAND_DISPLAY", "")
	if err := ClearClipboard(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(log); strings.TrimSpace(string(b)) != "--clipboard --clear" {
		t.Errorf("xsel called with %q", b)
	}
	t.Setenv("PATH", t.TempDir())
	if err := ClearClipboard(context.Background()); !errors.Is(err, ErrUnsupported) {
		t.Errorf("no tool: %v, want ErrUnsupported", err)
	}
}

// The netlink listener query and /proc/net/tcp agree. Every Linux the
// project supports has sock_diag (the /proc fallback is for hardened
// kernels and sandboxes), so a failure here is a failure.
func TestListenersNetlinkMatchesProc(t *testing.T) {
	nl, err := listenersNetlink()
	if err != nil {
		t.Fatalf("sock_diag: %v", err)
	}
	pr, err := listenersProc(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Sockets may come and go between the two reads (other tests run):
	// compare only the ones both saw by inode.
	inodes := map[uint64]listener{}
	for _, l := range pr {
		inodes[l.inode] = l
	}
	common := 0
	for _, l := range nl {
		if p, ok := inodes[l.inode]; ok {
			common++
			if p != l {
				t.Errorf("netlink %+v, /proc %+v", l, p)
			}
		}
	}
	if common == 0 && len(pr) > 0 {
		t.Errorf("no socket in common: netlink %v, /proc %v", nl, pr)
	}
}

// A thread id is reachable under /proc but is not a process.
func TestReadIdentitySkipsThreads(t *testing.T) {
	self := os.Getpid()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err) // Linux always has /proc/self/task
	}
	for _, task := range tasks {
		if task.Name() == strconv.Itoa(self) {
			continue
		}
		tid, _ := strconv.Atoi(task.Name())
		if _, _, err := readIdentity(int32(tid)); !errors.Is(err, errThread) {
			t.Errorf("thread %d: err %v, want errThread", tid, err)
		}
		break
	}
	if _, _, err := readIdentity(int32(self)); err != nil {
		t.Errorf("process: %v", err)
	}
}

// Processes started one after another are found through the lastPID probe
// path, not only through listings.
func TestScannerProbesNewPids(t *testing.T) {
	if _, ok := lastPID(); !ok {
		t.Fatal("lastPID: /proc/loadavg unreadable; Linux always has it")
	}
	dir := t.TempDir()
	anydesk, _ := copySleep(t, dir, "anydesk")
	s := newProcScanner(policy.Default())
	now := time.Now()
	if _, err := s.scan(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		cmd := startProc(t, anydesk)
		var found bool
		for try := 0; try < 3 && !found; try++ {
			now = now.Add(100 * time.Millisecond)
			out, err := s.scan(context.Background(), now)
			if err != nil {
				t.Fatal(err)
			}
			_, found = findPID(out.findings, cmd.Process.Pid)
		}
		if !found {
			t.Fatalf("start %d: pid %d not found", i, cmd.Process.Pid)
		}
		cmd.stop()
		now = now.Add(100 * time.Millisecond)
		out, _ := s.scan(context.Background(), now)
		if _, ok := findPID(out.findings, cmd.Process.Pid); ok {
			t.Fatalf("pid %d still flagged after it exited", cmd.Process.Pid)
		}
	}
}

// A launcher that execs a prohibited program half a second after it
// started is caught by the re-reads of young processes, well before the
// next sweep (sweepEvery after the first scan).
func TestScannerCatchesLateExec(t *testing.T) {
	dir := t.TempDir()
	anydesk, _ := copySleep(t, dir, "anydesk")
	s := newProcScanner(policy.Default())
	first := time.Now()
	if _, err := s.scan(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	launcher := startCmd(t, exec.Command("/bin/sh", "-c", `sleep 0.5; exec "$0" 60`, anydesk))
	started := time.Now()
	deadline := first.Add(sweepEvery - time.Second)
	for {
		time.Sleep(100 * time.Millisecond)
		now := time.Now()
		if now.After(deadline) {
			t.Fatalf("launcher (pid %d) not flagged %v after it started: only the sweep would catch it", launcher.Process.Pid, now.Sub(started).Round(time.Millisecond))
		}
		out, err := s.scan(context.Background(), now)
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := findPID(out.findings, launcher.Process.Pid); ok {
			t.Logf("flagged as %s %v after the launcher started", f.Name, now.Sub(started).Round(time.Millisecond))
			return
		}
	}
}

// A launcher started just before the scanner's first listing, which execs
// a prohibited program only after it, is caught by the re-reads of young
// processes too: its recent start time makes it new although the first
// listing found it.
func TestScannerCatchesExecAfterFirstListing(t *testing.T) {
	dir := t.TempDir()
	anydesk, _ := copySleep(t, dir, "anydesk")
	cmd := exec.Command("/bin/sh", "-c", `read go; exec "$0" 60`, anydesk)
	goAhead, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	launcher := startCmd(t, cmd)
	s := newProcScanner(policy.Default())
	first := time.Now()
	out, err := s.scan(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := findPID(out.findings, launcher.Process.Pid); ok {
		t.Fatal("launcher flagged before it exec'd")
	}
	if _, err := goAhead.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	deadline := first.Add(sweepEvery - time.Second)
	for {
		time.Sleep(100 * time.Millisecond)
		now := time.Now()
		if now.After(deadline) {
			t.Fatalf("launcher (pid %d) not flagged %v after the first listing: only the sweep would catch it", launcher.Process.Pid, now.Sub(first).Round(time.Millisecond))
		}
		out, err := s.scan(context.Background(), now)
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := findPID(out.findings, launcher.Process.Pid); ok {
			t.Logf("flagged as %s %v after the first listing", f.Name, now.Sub(first).Round(time.Millisecond))
			return
		}
	}
}
