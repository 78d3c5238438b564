package lockdown

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/lockdown/journal"
	"github.com/invigil/invigil/lockdown/policy"
	"golang.org/x/sys/windows"
)

// init doubles as the "other program" of TestWindowsForegroundGuard: it
// opens a window, puts it in front, prints its handle and keeps pumping
// messages until stdin closes.
func init() {
	if os.Getenv("INVIGIL_TEST_FOREIGN_WINDOW") == "" {
		return
	}
	defer lockThread()()
	w, err := createWindow("another program")
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	procSetForegroundWindow.Call(uintptr(w))
	fmt.Println(uintptr(w))
	done := make(chan struct{})
	go func() { bufio.NewReader(os.Stdin).ReadString('\n'); close(done) }()
	for {
		select {
		case <-done:
			os.Exit(0)
		default:
			pumpKeys(20 * time.Millisecond)
		}
	}
}

// TestWindowsForegroundGuard: with app_switch block, a window of another
// program that comes to the front is pushed back (the exam window gets the
// foreground, or the intruder is minimised); a program in switch_to may
// stay.
func TestWindowsForegroundGuard(t *testing.T) {
	for _, tt := range []struct {
		name     string
		switchTo []string
		pushed   bool
	}{
		{"not allowed", nil, true},
		{"switch_to", []string{"lockdown.test*.exe"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer lockThread()()
			exam, err := createWindow("invigil exam window")
			if err != nil {
				t.Fatal(err)
			}
			defer destroyWindow(exam)
			procSetForegroundWindow.Call(uintptr(exam))
			pumpKeys(100 * time.Millisecond)
			j, _, err := journal.Open(t.Context(), tempDir(t)+`\journal.jsonl`, journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close(t.Context())
			p := policy.Kiosk{WindowsKey: policy.Allow, PrintScreen: policy.Allow, AppSwitch: policy.Block,
				SwitchTo: policy.OSList{Windows: tt.switchTo}}
			k, err := startKiosk(kioskConfig{policy: p, journal: j, log: quietLogger(), self: selfPID()})
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			pumpKeys(200 * time.Millisecond) // the kiosk finds the exam window

			_, foreign, stop := startForeignWindow(t)
			defer stop()
			start := time.Now()
			var pushed bool
			var how string
			for time.Since(start) < 3*time.Second && !pushed {
				pumpKeys(20 * time.Millisecond)
				if r, _, _ := procIsIconic.Call(uintptr(foreign)); r != 0 {
					pushed, how = true, "minimised the other window"
				} else if fg, _, _ := procGetForegroundWindow.Call(); fg == uintptr(exam) {
					pushed, how = true, "gave the exam window the foreground back"
				}
			}
			if pushed != tt.pushed {
				fg, _, _ := procGetForegroundWindow.Call()
				t.Fatalf("pushed back = %v (%s), want %v; foreground %#x, exam %#x, other %#x", pushed, how, tt.pushed, fg, exam, foreign)
			}
			wk := k.(*winKiosk)
			t.Logf("foreground events seen %d, guard acted %d times", wk.events.Load(), wk.acted.Load())
			if pushed {
				t.Logf("guard %s within %v", how, time.Since(start))
			}
		})
	}
}

// startForeignWindow starts this test binary as the helper that owns a
// window of another process (INVIGIL_TEST_FOREIGN_WINDOW) and returns it,
// its window, and stop, which ends it.
func startForeignWindow(t *testing.T) (*exec.Cmd, windows.HWND, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "INVIGIL_TEST_FOREIGN_WINDOW=1")
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() { stdin.Close(); cmd.Wait() }
	line, _ := bufio.NewReader(out).ReadString('\n')
	h, err := strconv.ParseUint(strings.TrimSpace(line), 10, 64)
	if err != nil {
		stop()
		t.Fatalf("helper said %q", line)
	}
	return cmd, windows.HWND(h), stop
}
