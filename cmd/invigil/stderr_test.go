package main

import (
	"bytes"
	"strings"
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
