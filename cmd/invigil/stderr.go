package main

import (
	"bufio"
	"bytes"
	"io"
)

// openh264Env, set to 1, shows openh264's own log lines on stderr.
const openh264Env = "INVIGIL_OPENH264_LOG"

// nativeLineFilter returns which lines that native code wrote to stderr
// are shown. openh264 (inside mediadevices, which never sets its trace
// level) prints a warning at every bitrate change the rate corrector makes:
// "[OpenH264] this = 0x…, Warning:bEnableFrameSkip = 0, bitrate can't be
// controlled…". They are noise to a student or an IT admin; its errors
// are kept, and showAll keeps everything.
func nativeLineFilter(showAll bool) func(line []byte) bool {
	return func(line []byte) bool {
		return showAll || !bytes.HasPrefix(line, []byte("[OpenH264]")) || bytes.Contains(line, []byte("Error"))
	}
}

// forwardLines copies r to w line by line, dropping what keep refuses.
func forwardLines(r io.Reader, w io.Writer, keep func([]byte) bool) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && (err == bufio.ErrBufferFull || keep(line)) {
			w.Write(line)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}
