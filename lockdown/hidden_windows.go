package lockdown

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	procGetWindowDisplayAffinity = user32.NewProc("GetWindowDisplayAffinity")
)

// topWindow is one visible top-level window and its owning process.
type topWindow struct {
	hwnd windows.HWND
	pid  uint32
}

// enumState carries EnumWindows' results out of its callback. The callback
// is made once (syscall.NewCallback slots are never freed) and enumMu
// serialises enumerations.
var (
	enumMu    sync.Mutex
	enumFound []topWindow
	enumCB    = sync.OnceValue(func() uintptr {
		return syscall.NewCallback(func(hwnd windows.HWND, _ uintptr) uintptr {
			if !windows.IsWindowVisible(hwnd) {
				return 1
			}
			var pid uint32
			if _, err := windows.GetWindowThreadProcessId(hwnd, &pid); err != nil {
				return 1
			}
			enumFound = append(enumFound, topWindow{hwnd, pid})
			return 1 // continue
		})
	})
)

// topWindows lists the visible top-level windows.
func topWindows() ([]topWindow, error) {
	cb := enumCB()
	enumMu.Lock()
	defer enumMu.Unlock()
	enumFound = nil
	if err := windows.EnumWindows(cb, nil); err != nil {
		return nil, fmt.Errorf("EnumWindows: %w", err)
	}
	out := enumFound
	enumFound = nil
	return out, nil
}

// windowAffinity calls GetWindowDisplayAffinity.
func windowAffinity(hwnd windows.HWND) (uint32, error) {
	if err := procGetWindowDisplayAffinity.Find(); err != nil {
		return 0, err
	}
	var a uint32
	r, _, err := procGetWindowDisplayAffinity.Call(uintptr(hwnd), uintptr(unsafe.Pointer(&a)))
	if r == 0 {
		return 0, fmt.Errorf("GetWindowDisplayAffinity: %w", err)
	}
	return a, nil
}

// processExe returns the full executable path of pid.
func processExe(pid uint32) (string, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return "", err
	}
	defer windows.CloseHandle(h)
	buf := make([]uint16, windows.MAX_LONG_PATH)
	n := uint32(len(buf))
	if err := windows.QueryFullProcessImageName(h, 0, &buf[0], &n); err != nil {
		return "", err
	}
	return windows.UTF16ToString(buf[:n]), nil
}

// listHiddenWindows enumerates the visible top-level windows of other
// processes and returns those whose display affinity is not WDA_NONE.
func listHiddenWindows(ctx context.Context, self int32) (windowScan, error) {
	return scanWindows(ctx, self, windowAffinity)
}

// scanWindows is listHiddenWindows with the affinity query injected (Wine
// implements GetWindowDisplayAffinity as a stub that always says
// WDA_NONE; its test injects the value and runs everything else for
// real).
func scanWindows(ctx context.Context, self int32, affinity func(windows.HWND) (uint32, error)) (windowScan, error) {
	var s windowScan
	ws, err := topWindows()
	if err != nil {
		return s, err
	}
	exes := map[uint32]string{}
	var failed int
	var lastErr error
	for _, w := range ws {
		if ctx.Err() != nil {
			return s, ctx.Err()
		}
		if int32(w.pid) == self {
			continue
		}
		s.Checked++
		a, err := affinity(w.hwnd)
		if err != nil {
			failed++
			lastErr = err
			continue
		}
		mode, hidden := affinityMode(a)
		if !hidden {
			continue
		}
		exe, ok := exes[w.pid]
		if !ok {
			exe, _ = processExe(w.pid) // another user's process: name unknown
			exes[w.pid] = exe
		}
		hw := HiddenWindow{Handle: uint64(w.hwnd), PID: int32(w.pid), Exe: exe, Mode: mode}
		if exe != "" {
			hw.Program = filepath.Base(exe)
		}
		s.Hidden = append(s.Hidden, hw)
	}
	if failed > 0 && failed == s.Checked {
		return s, fmt.Errorf("display affinity of %d windows: %w", failed, lastErr)
	}
	if s.Checked == 0 && len(ws) == 0 {
		return s, errors.New("no top-level windows at all: not an interactive desktop")
	}
	return s, nil
}
