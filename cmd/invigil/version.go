package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/invigil/invigil/client"
)

func init() {
	commands["version"] = command{summary: "print the client's version", run: runVersion}
}

// runVersion prints what IT staff and support ask for first: the version
// and the platform it was built for.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if code, ok := parseNoArgs(fs, args, stderr); !ok {
		return code
	}
	fmt.Fprintf(stdout, "invigil %s (%s/%s, %s)\n", client.Version, runtime.GOOS, runtime.GOARCH, runtime.Version())
	return exitOK
}
