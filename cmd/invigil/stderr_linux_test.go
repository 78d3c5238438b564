package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// The helper process installs the filter, writes to fd 2 the way C code
// does, and either exits through restore or panics.
func init() {
	mode := os.Getenv("INVIGIL_STDERR_HELPER")
	if mode == "" {
		return
	}
	stderr, restore := filterNativeStderr()
	stderr.Write([]byte("go message\n"))
	syscall.Write(2, []byte("[OpenH264] this = 0x1, Warning:Change QP Range\n"))
	syscall.Write(2, []byte("native message\n"))
	if mode == "panic" {
		panic("helper crashed")
	}
	syscall.Write(2, []byte("last native message"))
	restore()
	os.Exit(0)
}

func TestFilterNativeStderr(t *testing.T) {
	run := func(mode string) string {
		cmd := exec.Command(os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), "INVIGIL_STDERR_HELPER="+mode)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		cmd.Run()
		return errb.String()
	}
	out := run("exit")
	for _, want := range []string{"go message\n", "native message\n", "last native message"} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lost %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "OpenH264") {
		t.Errorf("openh264 warning not filtered:\n%s", out)
	}
	if out := run("panic"); !strings.Contains(out, "panic: helper crashed") || !strings.Contains(out, "goroutine ") {
		t.Errorf("a crash's message and stack did not reach stderr:\n%s", out)
	}
}
