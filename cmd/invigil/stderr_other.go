//go:build !linux

package main

import (
	"io"
	"os"
)

// filterNativeStderr filters only on Linux; elsewhere stderr is left as it is.
func filterNativeStderr() (io.Writer, func()) { return os.Stderr, func() {} }
