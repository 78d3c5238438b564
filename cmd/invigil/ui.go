package main

// The desktop app: `invigil run [--server URL --code CODE | invigil://join?...]`
// without --headless. This file is the only one that imports Fyne's app
// package (it needs cgo and a display); the UI itself is client/ui.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"github.com/go-gl/glfw/v3.3/glfw"
	"github.com/jezek/xgb"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/launch"
	"github.com/invigil/invigil/client/ui"
)

// appID is the desktop app's identity (preferences, the .desktop file).
const appID = "org.invigil.client"

func init() {
	commands["ui-available"] = command{summary: "exit 0 if the desktop app can open a window here", run: runUIAvailable}
}

// runUIAvailable tells scripts (scripts/demo.sh) whether `invigil run`
// without --headless can open its window: it connects to the display the
// way the app would. Exit 0 and "yes", or exit 12 and the reason.
func runUIAvailable(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "invigil ui-available: unexpected argument %q\n", args[0])
		return exitUsage
	}
	if err := displayAvailable(); err != nil {
		fmt.Fprintf(stderr, "invigil: the desktop app cannot open a window: %v\n", err)
		return exitNoDisplay
	}
	fmt.Fprintln(stdout, "yes")
	return exitOK
}

// displayAvailable reports why no window can be shown, if none can. On
// Windows and macOS there is always a desktop. Elsewhere the app's
// toolkit (GLFW) needs an X11 display (Wayland desktops have XWayland): it
// connects to the one DISPLAY names, as GLFW will, and says no when that
// fails, so that the app never gets as far as GLFW's panic.
func displayAvailable() error {
	switch runtime.GOOS {
	case "windows", "darwin":
		return nil
	}
	display := os.Getenv("DISPLAY")
	if display == "" {
		if os.Getenv("WAYLAND_DISPLAY") != "" {
			return errors.New("no X11 display (DISPLAY is unset; this Wayland session has no XWayland); use --headless")
		}
		return errors.New("no display (DISPLAY is unset); use --headless")
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		// Opening a display under Xvfb fails now and then (EOF, EAGAIN):
		// a display that is there answers a second time.
		if err = dialX11(display, 5*time.Second); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("cannot open the display %s (%v); use --headless", display, err)
}

// dialX11 connects to an X server (authentication included) and hangs up.
func dialX11(display string, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() {
		c, err := xgb.NewConnDisplay(display)
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("no answer in %v", timeout)
	}
}

// newApp starts the toolkit and opens the app's window. GLFW panics when
// the display goes away between displayAvailable and here (or has no
// OpenGL): that becomes an error, not a stack trace.
func newApp(title string) (a fyne.App, w fyne.Window, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the window system failed: %v", r)
		}
	}()
	a = app.NewWithID(appID)
	a.Settings().SetTheme(ui.Theme{})
	a.SetIcon(ui.LogoPNG)
	w = a.NewWindow(title)
	return a, w, nil
}

// runApp is `invigil` without arguments, what a menu or a double click
// starts: the app, on its join screen. Without a usable display it prints
// why and the commands, and exits 12.
func runApp(ctx context.Context, stdout, stderr io.Writer) int {
	if err := displayAvailable(); err != nil {
		fmt.Fprintf(stderr, "invigil: cannot open the app: %v\n\n", err)
		usage(stderr)
		return exitNoDisplay
	}
	return runRun(ctx, nil, stdout, stderr)
}

// configFailed reports a configuration that cannot be used: on stderr,
// and for the desktop app also in a window that names the file and the
// problem (a student started from a menu or a link sees no terminal).
func configFailed(f *runFlags, err error, stderr io.Writer) int {
	fmt.Fprintf(stderr, "invigil run: configuration: %v\n", err)
	if f == nil || f.headless {
		return exitConfig
	}
	if derr := displayAvailable(); derr != nil {
		fmt.Fprintf(stderr, "invigil run: no window to show it in: %v\n", derr)
		return exitConfig
	}
	file, problem := "", err.Error()
	var fe *launch.ConfigFileError
	if errors.As(err, &fe) {
		file, problem = fe.Path, fe.Err.Error()
	}
	a, w, werr := newApp(ui.ConfigErrorTitle)
	if werr != nil {
		fmt.Fprintf(stderr, "invigil run: no window to show it in: %v\n", werr)
		return exitConfig
	}
	c := ui.NewConfigError(file, problem, a.Quit)
	w.SetContent(c.Object())
	w.Canvas().SetOnTypedKey(c.Key)
	w.Resize(fyne.NewSize(720, 520))
	w.CenterOnScreen()
	w.ShowAndRun()
	return exitConfig
}

// runDesktop opens the app. It returns when the student closes it.
func runDesktop(ctx context.Context, f *runFlags, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: f.level}))
	cfg := f.cfg

	// One window at a time: a second launch hands its link over and
	// exits.
	var inst *launch.Instance
	if sock, err := launch.InstanceSocketPath(); err != nil {
		log.Warn("no single-instance socket", "err", err)
	} else if inst, err = launch.ClaimInstance(sock, f.link, log); errors.Is(err, launch.ErrOtherInstance) {
		fmt.Fprintln(stderr, "invigil: Invigil is already open; it got the link")
		return exitOK
	} else if err != nil {
		log.Warn("no single-instance socket", "err", err)
		inst = nil
	}
	if inst != nil {
		defer inst.Close()
	}
	if err := displayAvailable(); err != nil {
		fmt.Fprintf(stderr, "invigil run: %v\n", err)
		return exitNoDisplay
	}
	tuneMemory() // not before: a second launch hands its link over and exits

	// No system tray: Fyne's tray adds a Quit item that would end an exam
	// without finishing it, and it panics on Quit without a D-Bus session.
	a, w, err := newApp("Invigil")
	if err != nil {
		fmt.Fprintf(stderr, "invigil run: cannot open the window: %v; use --headless\n", err)
		return exitNoDisplay
	}
	w.Resize(fyne.NewSize(1100, 780))
	w.CenterOnScreen()

	flow := client.NewFlow(client.FlowOptions{
		Env:    &client.RealEnv{Config: cfg, Log: log},
		Config: cfg, Link: f.link, Code: f.code, Log: log, RoomScan: f.roomScan,
	})
	view := ui.New(w, flow)
	if in := view.Indicator(); in != nil {
		// The indicator must not take the focus when it shows.
		in.SetBeforeShow(func() { glfw.WindowHint(glfw.FocusOnShow, glfw.False) })
	}
	if f.uiTestControl != "" {
		d, err := ui.StartTestDriver(view, f.uiTestControl, log)
		if err != nil {
			fmt.Fprintf(stderr, "invigil run: %v\n", err)
			return exitUsage
		}
		defer d.Close()
	}

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go flow.Run(fctx)
	uiDone := make(chan struct{})
	go func() {
		defer close(uiDone)
		view.Run(fctx, flow.States(), a.Quit)
	}()
	if inst != nil {
		go func() {
			for link := range inst.Links() {
				fyne.Do(w.RequestFocus)
				flow.OpenLink(link)
			}
		}()
	}
	w.ShowAndRun()
	// The window is gone (the flow ended, or the system closed the app):
	// stop the flow; a running exam stops without finishing and its spool
	// stays for the next start.
	cancel()
	<-flow.Done()
	<-uiDone
	return desktopExit(flow.Outcome())
}

// desktopExit maps how the flow ended to the process exit code (the same
// codes as a headless run).
func desktopExit(o client.Outcome) int {
	switch o.Screen {
	case client.ScreenReceipt:
		if o.EndedByProctor {
			return exitEnded
		}
		return exitOK
	case client.ScreenError:
		switch o.Error {
		case client.ErrorUnreachable:
			return exitUnreachable
		case client.ErrorBadPolicy:
			return exitBadPolicy
		case client.ErrorRefused, client.ErrorNotOpen, client.ErrorStopped:
			return exitJoinRefused
		case client.ErrorCamera:
			return exitCapture
		case client.ErrorBadLink:
			return exitUsage
		}
		return exitFailure
	case client.ScreenJoin, client.ScreenCheck, client.ScreenConsent:
		return exitOK // left before anything was recorded
	}
	// Left during the recording or the upload: the spool keeps the rest.
	return exitFailure
}
