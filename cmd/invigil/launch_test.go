package main

// Starting the app: `invigil` alone, `invigil ui-available`, `invigil run`
// without a usable display, and a configuration that cannot be used, with
// the real binary (issue 10.4, issue 9.4).

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/capture/xvfb/xvfbtest"
	"github.com/invigil/invigil/client/ui"
)

// launched is one finished run of the client.
type launched struct {
	exit           int
	stdout, stderr string
}

// launchClient runs the client with env until it exits (30 s at most).
func launchClient(t *testing.T, env []string, args ...string) launched {
	t.Helper()
	bin, _ := binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("invigil %q did not exit in 30 s:\n%s", args, errb.String())
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return launched{exit: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

// noDisplay is a DISPLAY no X server answers on.
func noDisplay(t *testing.T) string {
	for n := 1990; n < 2100; n++ {
		if _, err := os.Stat(filepath.Join("/tmp/.X11-unix", "X"+strconv.Itoa(n))); os.IsNotExist(err) {
			return ":" + strconv.Itoa(n)
		}
	}
	t.Fatal("no free display number")
	return ""
}

func noTrace(t *testing.T, what string, r launched) {
	t.Helper()
	if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("%s: a stack trace:\n%s", what, r.stderr)
	}
}

// TestLaunchWithoutDisplay: with DISPLAY unset or naming a display nobody
// serves, `ui-available` says no, `invigil run` says why and exits 12
// instead of GLFW's panic, and `invigil` alone prints the reason and the
// commands and exits 12.
func TestLaunchWithoutDisplay(t *testing.T) {
	dir := t.TempDir()
	for name, display := range map[string]string{"unset": "", "unreachable": noDisplay(t)} {
		t.Run(name, func(t *testing.T) {
			env := uiEnv(t, display, filepath.Join(dir, name))
			if display == "" {
				env = withoutEnv(env, "DISPLAY")
			}
			r := launchClient(t, env, "ui-available")
			if r.exit != exitNoDisplay || r.stdout != "" || !strings.Contains(r.stderr, "cannot open a window") {
				t.Errorf("ui-available: exit %d, stdout %q, stderr %q; want exit %d and the reason", r.exit, r.stdout, r.stderr, exitNoDisplay)
			}
			r = launchClient(t, env, "run", "--spool", filepath.Join(dir, "spool"))
			if r.exit != exitNoDisplay || !strings.Contains(r.stderr, "use --headless") {
				t.Errorf("run: exit %d, stderr %q; want exit %d and what to do", r.exit, r.stderr, exitNoDisplay)
			}
			noTrace(t, "run", r)
			r = launchClient(t, env)
			if r.exit != exitNoDisplay || !strings.Contains(r.stderr, "cannot open the app") || !strings.Contains(r.stderr, "usage: invigil") {
				t.Errorf("invigil alone: exit %d, stderr %q; want exit %d, the reason and the commands", r.exit, r.stderr, exitNoDisplay)
			}
			noTrace(t, "invigil alone", r)
			if display != "" && !strings.Contains(r.stderr, "cannot open the display "+display) {
				t.Errorf("the reason does not name the display %s:\n%s", display, r.stderr)
			}
		})
	}
}

func withoutEnv(env []string, key string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// TestLaunchWithDisplay: under Xvfb `ui-available` says yes, `invigil`
// alone opens the app's window, and a configuration file that cannot be
// used opens a window that names the file and the problem; closing it
// (Enter) exits 11. The headless run exits 11 with the same message.
func TestLaunchWithDisplay(t *testing.T) {
	if _, err := exec.LookPath("xdotool"); err != nil {
		t.Fatal("xdotool not installed: run scripts/setup.sh")
	}
	binaries(t)
	display := xvfbtest.Start(t, "1280x800x24")
	dir := t.TempDir()
	env := uiEnv(t, display, dir)
	xdo := func(args ...string) (string, error) {
		cmd := exec.Command("xdotool", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	// findWindow waits up to 30 s for a window of that exact title.
	findWindow := func(title string, exited <-chan struct{}) string {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if out, err := xdo("search", "--onlyvisible", "--name", "^"+title+"$"); err == nil && out != "" {
				ids := strings.Fields(out)
				return ids[len(ids)-1]
			}
			select {
			case <-exited:
				return ""
			default:
			}
		}
		return ""
	}
	start := func(args ...string) (*exec.Cmd, *lockedBuffer, chan struct{}) {
		bin, _ := binaries(t)
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		errb := &lockedBuffer{}
		cmd.Stderr = errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			select {
			case <-exited:
			default:
				cmd.Process.Kill()
				<-exited
			}
		})
		return cmd, errb, exited
	}

	if r := launchClient(t, env, "ui-available"); r.exit != exitOK || strings.TrimSpace(r.stdout) != "yes" {
		t.Errorf("ui-available under Xvfb: exit %d, stdout %q, stderr %q", r.exit, r.stdout, r.stderr)
	}

	// `invigil` alone: the app, on its join screen.
	t.Run("no arguments", func(t *testing.T) {
		cmd, errb, exited := start()
		if findWindow("Invigil", exited) == "" {
			t.Fatalf("no Invigil window (exit %v):\n%s", cmd.ProcessState, errb.String())
		}
		cmd.Process.Kill()
		<-exited
	})

	// A configuration file that is not JSON.
	broken := filepath.Join(dir, "config.json")
	if err := os.WriteFile(broken, []byte("server = https://proctor.example.edu\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("broken configuration, headless", func(t *testing.T) {
		r := launchClient(t, env, "run", "--headless", "--config", broken, "--code", "X", "--accept-consent", "--duration", "1s")
		if r.exit != exitConfig || !strings.Contains(r.stderr, broken) || !strings.Contains(r.stderr, "not a valid configuration") {
			t.Errorf("exit %d, stderr %q; want exit %d naming the file and the problem", r.exit, r.stderr, exitConfig)
		}
	})
	t.Run("broken configuration, desktop", func(t *testing.T) {
		cmd, errb, exited := start("run", "--config", broken)
		win := findWindow(ui.ConfigErrorTitle, exited)
		if win == "" {
			t.Fatalf("no %q window (exit %v):\n%s", ui.ConfigErrorTitle, cmd.ProcessState, errb.String())
		}
		if !strings.Contains(errb.String(), broken) || !strings.Contains(errb.String(), "not a valid configuration") {
			t.Errorf("stderr does not name the file and the problem:\n%s", errb.String())
		}
		time.Sleep(700 * time.Millisecond) // the first frame
		if os.Getenv("INVIGIL_UI_SHOTS") != "" {
			shot := exec.Command("import", "-window", win, filepath.Join(os.Getenv("INVIGIL_UI_SHOTS"), "config-error.png"))
			shot.Env = env
			if out, err := shot.CombinedOutput(); err != nil {
				t.Errorf("import: %v\n%s", err, out)
			}
		}
		// Closing the window (Enter, as a keyboard user would) ends the run.
		for i := 0; i < 10; i++ {
			if out, err := xdo("windowfocus", "--sync", win, "key", "Return"); err != nil {
				t.Logf("xdotool: %v %s", err, out)
			}
			select {
			case <-exited:
				if code := cmd.ProcessState.ExitCode(); code != exitConfig {
					t.Errorf("exit %d after Close, want %d:\n%s", code, exitConfig, errb.String())
				}
				noTrace(t, "config window", launched{stderr: errb.String()})
				return
			case <-time.After(time.Second):
			}
		}
		t.Fatalf("the window did not close on Enter:\n%s", errb.String())
	})
}
