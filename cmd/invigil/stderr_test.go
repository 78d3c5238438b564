package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestForwardLines(t *testing.T) {
	in := "[OpenH264] this = 0x1, Warning:bEnableFrameSkip = 0\n" +
		"ordinary line\n" +
		"[OpenH264] this = 0x1, Error:CWelsH264SVCEncoder::Initialize(), invalid\n" +
		"no newline at the end"
	var out bytes.Buffer
	forwardLines(strings.NewReader(in), &out, keepNativeLine)
	want := "ordinary line\n[OpenH264] this = 0x1, Error:CWelsH264SVCEncoder::Initialize(), invalid\nno newline at the end"
	if out.String() != want {
		t.Errorf("forwarded %q, want %q", out.String(), want)
	}
	t.Setenv(openh264Env, "1")
	out.Reset()
	forwardLines(strings.NewReader(in), &out, keepNativeLine)
	if out.String() != in {
		t.Errorf("with %s=1 forwarded %q", openh264Env, out.String())
	}
}

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
	if !nativeStderrFiltered {
		t.Skip("stderr is filtered on Linux only")
	}
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
