package main

import (
	"io"
	"os"
	"runtime/debug"
	"time"

	"golang.org/x/sys/unix"
)

// filterNativeStderr routes file descriptor 2, where C libraries write,
// through nativeLineFilter. It returns the real stderr, for the Go code's
// own messages, and a restore function that puts fd 2 back and forwards
// what is still in the pipe; call it before exiting. If anything fails,
// stderr is left as it was.
//
// A fatal Go error still reaches the terminal: the runtime writes it to
// fd 2 (the pipe, whose reader dies with the process) and also, through
// debug.SetCrashOutput, straight to the real stderr. What a C library
// wrote in the instant before a crash may still be in the pipe and lost.
func filterNativeStderr() (io.Writer, func()) {
	nop := func() {}
	saved, err := unix.Dup(2)
	if err != nil {
		return os.Stderr, nop
	}
	unix.CloseOnExec(saved)
	orig := os.NewFile(uintptr(saved), "/dev/stderr")
	r, w, err := os.Pipe()
	if err != nil {
		orig.Close()
		return os.Stderr, nop
	}
	if err := unix.Dup3(int(w.Fd()), 2, 0); err != nil {
		orig.Close()
		r.Close()
		w.Close()
		return os.Stderr, nop
	}
	w.Close() // fd 2 is now the pipe's only writer
	debug.SetCrashOutput(orig, debug.CrashOptions{})
	keep := nativeLineFilter(os.Getenv(openh264Env) == "1")
	done := make(chan struct{})
	go func() {
		defer close(done)
		forwardLines(r, orig, keep)
	}()
	return orig, func() {
		// Point fd 2 back at the terminal: that closes our end of the
		// pipe, and the forwarder ends once it has copied the rest. A
		// child still holding it (xclip serving the selection) would keep
		// it open: wait a second at most.
		unix.Dup3(saved, 2, 0)
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		r.Close()
	}
}
