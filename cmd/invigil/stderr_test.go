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
	forwardLines(strings.NewReader(in), &out, nativeLineFilter(false))
	want := "ordinary line\n[OpenH264] this = 0x1, Error:CWelsH264SVCEncoder::Initialize(), invalid\nno newline at the end"
	if out.String() != want {
		t.Errorf("forwarded %q, want %q", out.String(), want)
	}
	out.Reset()
	forwardLines(strings.NewReader(in), &out, nativeLineFilter(true))
	if out.String() != in {
		t.Errorf("showing all, forwarded %q", out.String())
	}
}
