// Command invigil is the Invigil student client: the lockdown desktop app,
// its headless run for tests and labs, the system check and the reset that
// undoes lockdown changes after a crash.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// A command is one `invigil` subcommand. Each lives in its own file and
// registers itself in commands from an init function.
type command struct {
	summary string
	// run gets the arguments after the subcommand name and returns the
	// process exit code. It writes its own one-line error to stderr.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func main() {
	attachConsole(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stderr, restore := filterNativeStderr()
	code := dispatch(ctx, os.Args[1:], os.Stdout, stderr)
	stop()
	restore()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		// What the menu entry or a double click starts: the app.
		return runApp(ctx, stdout, stderr)
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "invigil: unknown command %q (see 'invigil help')\n", args[0])
		return exitUsage
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: invigil [<command> [flags]]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Without a command: the desktop app (as 'invigil run').")
	fmt.Fprintln(w)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'invigil <command> -h' for a command's flags.")
}
