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

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"github.com/go-gl/glfw/v3.3/glfw"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/ui"
)

// appID is the desktop app's identity (preferences, the .desktop file).
const appID = "org.invigil.client"

func init() {
	commands["ui-available"] = command{summary: "exit 0 if the desktop app can open a window here", run: runUIAvailable}
}

// runUIAvailable tells scripts (scripts/demo.sh) whether `invigil run`
// without --headless can open its window: this build has the app, and
// there is a display.
func runUIAvailable(_ context.Context, _ []string, stdout, stderr io.Writer) int {
	if err := displayAvailable(); err != nil {
		fmt.Fprintf(stderr, "invigil: the desktop app cannot open a window: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, "yes")
	return exitOK
}

// displayAvailable reports why no window can be shown, if none can. Only
// Linux and the BSDs need a display server named in the environment.
func displayAvailable() error {
	switch runtime.GOOS {
	case "windows", "darwin":
		return nil
	}
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return errors.New("no display (DISPLAY and WAYLAND_DISPLAY are unset); use --headless")
	}
	return nil
}

// runDesktop opens the app. It returns when the student closes it.
func runDesktop(ctx context.Context, f *runFlags, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: f.level}))
	cfg := f.cfg

	// One window at a time: a second launch hands its link over and
	// exits.
	var inst *client.Instance
	if sock, err := client.InstanceSocketPath(); err != nil {
		log.Warn("no single-instance socket", "err", err)
	} else if inst, err = client.ClaimInstance(sock, f.link, log); errors.Is(err, client.ErrOtherInstance) {
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
		return exitUsage
	}
	tuneMemory() // not before: a second launch hands its link over and exits

	a := app.NewWithID(appID)
	a.Settings().SetTheme(ui.Theme{})
	a.SetIcon(ui.LogoPNG)
	// No system tray: Fyne's tray adds a Quit item that would end an exam
	// without finishing it, and it panics on Quit without a D-Bus session.
	w := a.NewWindow("Invigil")
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
