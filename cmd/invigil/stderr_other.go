//go:build !linux

package main

import (
	"io"
	"os"
)

const nativeStderrFiltered = false

// filterNativeStderr filters only on Linux; elsewhere stderr is left as it is.
func filterNativeStderr() (io.Writer, func()) { return os.Stderr, func() {} }
