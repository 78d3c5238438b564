// Command console is a Windows test program of the Wine stage
// (cmd/invigil/wine_test.go), never shipped: it plays cmd.exe for a
// GUI-subsystem program. It gets a console of its own, starts its
// arguments as a command line the way a shell does (no redirected handles,
// nothing inherited), waits for it, and prints on its own stdout the exit
// code and the text that appeared in the console.
package main

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	kernel32                   = windows.NewLazySystemDLL("kernel32.dll")
	procAllocConsole           = kernel32.NewProc("AllocConsole")
	procFreeConsole            = kernel32.NewProc("FreeConsole")
	procReadConsoleOutputChars = kernel32.NewProc("ReadConsoleOutputCharacterW")
)

func main() {
	out := os.Stdout // the pipe the test reads; AllocConsole replaces the std handles
	procFreeConsole.Call()
	if r, _, err := procAllocConsole.Call(); r == 0 {
		fmt.Fprintf(out, "AllocConsole: %v\n", err)
		os.Exit(1)
	}
	line, _ := windows.UTF16PtrFromString(strings.Join(os.Args[1:], " "))
	var si windows.StartupInfo
	si.Cb = uint32(unsafe.Sizeof(si))
	var pi windows.ProcessInformation
	if err := windows.CreateProcess(nil, line, nil, nil, false, 0, nil, nil, &si, &pi); err != nil {
		fmt.Fprintf(out, "CreateProcess: %v\n", err)
		os.Exit(1)
	}
	windows.WaitForSingleObject(pi.Process, windows.INFINITE)
	var code uint32
	windows.GetExitCodeProcess(pi.Process, &code)

	name, _ := windows.UTF16PtrFromString("CONOUT$")
	con, err := windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		fmt.Fprintf(out, "CONOUT$: %v\n", err)
		os.Exit(1)
	}
	var info windows.ConsoleScreenBufferInfo
	if err := windows.GetConsoleScreenBufferInfo(con, &info); err != nil {
		fmt.Fprintf(out, "GetConsoleScreenBufferInfo: %v\n", err)
		os.Exit(1)
	}
	w := int(info.Size.X)
	var text []string
	for y := 0; y <= int(info.CursorPosition.Y); y++ {
		buf := make([]uint16, w)
		var n uint32
		coord := uintptr(uint32(y) << 16) // COORD{X: 0, Y: y} passed by value
		procReadConsoleOutputChars.Call(uintptr(con), uintptr(unsafe.Pointer(&buf[0])), uintptr(w), coord, uintptr(unsafe.Pointer(&n)))
		text = append(text, strings.TrimRight(windows.UTF16ToString(buf[:n]), " "))
	}
	fmt.Fprintf(out, "exit %d\n%s\n", code, strings.Join(text, "\n"))
}
