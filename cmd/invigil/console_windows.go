package main

import (
	"os"

	"golang.org/x/sys/windows"
)

var (
	kernel32          = windows.NewLazySystemDLL("kernel32.dll")
	procAttachConsole = kernel32.NewProc("AttachConsole")
)

const attachParentProcess = ^uintptr(0) // ATTACH_PARENT_PROCESS, (DWORD)-1

// attachConsole gives a GUI-subsystem invigil.exe the console of the
// program that started it (cmd.exe, PowerShell), so that check, run
// --headless, reset and version print there. A standard handle the parent
// already redirected (a file, a pipe: `invigil check --json > out.json`)
// is kept as it is; only the missing ones are pointed at the console.
// Without a parent console (started from Explorer, a browser, a service)
// nothing changes and output goes nowhere, as for any GUI program.
func attachConsole(args []string) {
	if !wantsConsole(args) {
		return
	}
	std := []struct {
		id   uint32
		file **os.File
		name string
	}{
		{windows.STD_OUTPUT_HANDLE, &os.Stdout, "CONOUT$"},
		{windows.STD_ERROR_HANDLE, &os.Stderr, "CONOUT$"},
	}
	var missing []int
	for i, s := range std {
		if !usableHandle(s.id) {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return
	}
	if r, _, _ := procAttachConsole.Call(attachParentProcess); r == 0 {
		return // no parent console
	}
	for _, i := range missing {
		s := std[i]
		name, _ := windows.UTF16PtrFromString(s.name)
		h, err := windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE,
			windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
		if err != nil {
			continue
		}
		windows.SetStdHandle(s.id, h)
		*s.file = os.NewFile(uintptr(h), s.name)
	}
}

// usableHandle reports whether the standard handle id is open on
// something (a console, a file, a pipe).
func usableHandle(id uint32) bool {
	h, err := windows.GetStdHandle(id)
	if err != nil || h == 0 || h == windows.InvalidHandle {
		return false
	}
	t, err := windows.GetFileType(h)
	return err == nil && t != windows.FILE_TYPE_UNKNOWN
}
