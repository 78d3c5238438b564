package lockdown

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/invigil/invigil/lockdown/journal"
	"github.com/invigil/invigil/lockdown/policy"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// init doubles as the "crashing exam" helper process of
// TestWindowsKioskCrashReset: it starts the kiosk with a journal and dies
// without undoing anything.
func init() {
	path := os.Getenv("INVIGIL_TEST_KIOSK_CRASH")
	if path == "" {
		return
	}
	j, _, err := journal.Open(context.Background(), path, journal.Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	if _, err := startKiosk(kioskConfig{policy: policy.Default().Kiosk, journal: j, log: quietLogger(), self: selfPID()}); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println("ready")
	os.Exit(3) // a crash: hooks die with the process, the rest stays
}

// toastEnabled reads HKCU\...\PushNotifications\ToastEnabled; ok is false
// when the value does not exist.
func toastEnabled(t *testing.T) (v uint64, ok bool) {
	t.Helper()
	k, err := registry.OpenKey(registry.CURRENT_USER, pushNotificationsKey, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	v, _, err = k.GetIntegerValue("ToastEnabled")
	if err != nil {
		return 0, false
	}
	return v, true
}

type reports struct {
	mu   sync.Mutex
	keys []string
	at   []time.Time
}

func (r *reports) add(k keyReport) {
	r.mu.Lock()
	r.keys = append(r.keys, k.Keys)
	r.at = append(r.at, time.Now())
	r.mu.Unlock()
}

func (r *reports) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.keys)
}

func hasKey(ms []keyMsg, vk uintptr) bool {
	return slices.ContainsFunc(ms, func(m keyMsg) bool { return m.vk == vk })
}

// TestWindowsKiosk runs the Windows kiosk for real: the keyboard hook
// swallows PrintScreen, the Windows key and Alt+Tab and lets ordinary keys
// through; the exam window becomes topmost; the foreground lock timeout
// and the notification switch are changed; and closing the kiosk and the
// journal puts everything back.
func TestWindowsKiosk(t *testing.T) {
	defer lockThread()()
	w, err := createWindow("invigil exam window")
	if err != nil {
		t.Fatal(err)
	}
	defer destroyWindow(w)
	procSetForegroundWindow.Call(uintptr(w))
	procSetFocus.Call(uintptr(w))
	pumpKeys(100 * time.Millisecond)

	lockBefore, err := foregroundLockTimeout()
	if err != nil {
		t.Fatal(err)
	}
	toastBefore, toastExisted := toastEnabled(t)
	j, _, err := journal.Open(context.Background(), filepath.Join(tempDir(t), "journal.jsonl"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close(context.Background())

	// Without the hook: is an injected key delivered to our window at all?
	sendKey('A', false)
	sendKey('A', true)
	baseline := pumpKeys(300 * time.Millisecond)
	delivered := hasKey(baseline, 'A')
	t.Logf("injected key reaches the test window without a hook: %v", delivered)

	rep := &reports{}
	p := policy.Default().Kiosk
	t0 := time.Now()
	kh, err := startKiosk(kioskConfig{policy: p, journal: j, log: quietLogger(), self: selfPID(), report: rep.add})
	if err != nil {
		t.Fatal(err)
	}
	k := kh.(*winKiosk)
	t.Logf("kiosk started in %v (hooks installed in %v)", time.Since(t0), k.installed)

	// Changes made, and journaled.
	if v, err := foregroundLockTimeout(); err != nil || v != foregroundLockMax {
		t.Errorf("foreground lock timeout = %d, %v; want %d", v, err, uint32(foregroundLockMax))
	}
	if v, ok := toastEnabled(t); !ok || v != 0 {
		t.Errorf("ToastEnabled = %d (exists %v), want 0", v, ok)
	}
	pumpKeys(200 * time.Millisecond) // windowLoop's first round
	if exStyle(w)&wsExTopmost == 0 {
		t.Error("exam window is not topmost")
	}
	pending, err := journal.Pending(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, c := range pending {
		kinds = append(kinds, c.Kind)
	}
	for _, want := range []string{"registry.dword", "kiosk.foreground_lock_timeout", "kiosk.keyboard_hook", "kiosk.topmost"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("journal lacks %s: %v", want, kinds)
		}
	}

	// Keys.
	type combo struct {
		name  string
		press func()
		vk    uintptr // the key that must not arrive
		want  string
	}
	for _, c := range []combo{
		{"PrintScreen", func() { sendKey(vkSnapshot, false); sendKey(vkSnapshot, true) }, vkSnapshot, "PrintScreen"},
		{"Windows key", func() { sendKey(vkLWin, false); sendKey(vkLWin, true) }, vkLWin, "Windows key"},
		{"Alt+Tab", func() {
			sendKey(vkLMenu, false)
			sendKey(vkTab, false)
			sendKey(vkTab, true)
			sendKey(vkLMenu, true)
		}, vkTab, "Alt+Tab"},
	} {
		n := len(rep.list())
		sent := time.Now()
		c.press()
		got := pumpKeys(300 * time.Millisecond)
		if hasKey(got, c.vk) {
			t.Errorf("%s: key %#x reached the window: %v", c.name, c.vk, got)
		}
		rs := rep.list()
		if len(rs) <= n || rs[n] != c.want {
			t.Errorf("%s: reports %q, want %q after the first %d", c.name, rs, c.want, n)
		} else {
			rep.mu.Lock()
			t.Logf("%s swallowed; hook reported it %v after the key was sent", c.name, rep.at[n].Sub(sent))
			rep.mu.Unlock()
		}
	}
	t.Log("ordinary key")
	sendKey('B', false)
	sendKey('B', true)
	if got := pumpKeys(300 * time.Millisecond); delivered && !hasKey(got, 'B') {
		t.Errorf("an ordinary key was swallowed: %v", got)
	}

	// Close: hooks gone, window back to normal; the journal undoes the rest.
	t.Log("close")
	if err := kh.Close(); err != nil {
		t.Fatal(err)
	}
	kh.Close()
	t.Log("closed; PrintScreen without the hook")
	sendKey(vkSnapshot, false)
	sendKey(vkSnapshot, true)
	got := pumpKeys(300 * time.Millisecond)
	if delivered && !hasKey(got, vkSnapshot) {
		t.Errorf("PrintScreen still swallowed after Close: %v", got)
	}
	if exStyle(w)&wsExTopmost != 0 {
		t.Error("exam window still topmost after Close")
	}
	res, err := j.Close(context.Background())
	if err != nil {
		t.Fatalf("journal close: %v %+v", err, res)
	}
	if v, _ := foregroundLockTimeout(); v != lockBefore {
		t.Errorf("foreground lock timeout = %d after undo, want %d", v, lockBefore)
	}
	if v, ok := toastEnabled(t); ok != toastExisted || v != toastBefore {
		t.Errorf("ToastEnabled = %d (exists %v) after undo, want %d (exists %v)", v, ok, toastBefore, toastExisted)
	}
}

// TestWindowsKioskCrashReset: an exam process that dies with the kiosk on
// leaves the foreground lock and the notification switch changed; Reset
// (what `invigil reset` and the next start run) puts them back.
func TestWindowsKioskCrashReset(t *testing.T) {
	lockBefore, err := foregroundLockTimeout()
	if err != nil {
		t.Fatal(err)
	}
	toastBefore, toastExisted := toastEnabled(t)
	path := filepath.Join(tempDir(t), "journal.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "INVIGIL_TEST_KIOSK_CRASH="+path)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	err = cmd.Wait()
	var ee *exec.ExitError
	if line != "ready\n" && line != "ready\r\n" || !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("helper said %q, exit %v", line, err)
	}
	switch v, _ := foregroundLockTimeout(); {
	case v == foregroundLockMax:
	case isWine():
		// Wine keeps system parameters set without SPIF_UPDATEINIFILE in
		// the process that set them; Windows keeps them for the session.
		t.Logf("after the crash the foreground lock timeout is %d: Wine keeps it per process", v)
	default:
		t.Errorf("after the crash the foreground lock timeout is %d, want the kiosk's %d", v, uint32(foregroundLockMax))
	}
	if v, ok := toastEnabled(t); !ok || v != 0 {
		t.Errorf("after the crash ToastEnabled = %d (exists %v), want 0", v, ok)
	}
	rep, err := journal.Reset(context.Background(), path, journal.Options{})
	if err != nil || rep.Remaining != 0 || rep.OwnerRunning {
		t.Fatalf("reset: %+v, %v", rep, err)
	}
	var undone []string
	for _, r := range rep.Results {
		undone = append(undone, r.Change.Kind+": "+r.Outcome)
	}
	t.Logf("reset: %v", undone)
	if v, _ := foregroundLockTimeout(); v != lockBefore {
		t.Errorf("foreground lock timeout = %d after reset, want %d", v, lockBefore)
	}
	if v, ok := toastEnabled(t); ok != toastExisted || v != toastBefore {
		t.Errorf("ToastEnabled = %d (exists %v) after reset, want %d (exists %v)", v, ok, toastBefore, toastExisted)
	}
}

var _ = windows.HWND(0)
