package lockdown

import (
	"context"
	"fmt"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// macOS: CGWindowListCopyWindowInfo lists the on-screen windows with
// their owner and kCGWindowSharingState; a window whose sharing state is
// kCGWindowSharingNone (NSWindow.sharingType = .none) is left out of
// screenshots and (reportedly only before macOS 15) of ScreenCaptureKit
// captures. The frameworks are called through purego (no cgo, so the code
// is compiled and vetted on any machine); it has never run: see doc.go.

const (
	cgWindowListOptionOnScreenOnly     = 1 << 0
	cgWindowListExcludeDesktopElements = 1 << 4
	cgWindowSharingNone                = 0
	cfNumberSInt64Type                 = 4
	cfStringEncodingUTF8               = 0x08000100
)

type cgAPI struct {
	copyWindowInfo func(option, relativeTo uint32) uintptr
	arrayCount     func(arr uintptr) int
	arrayAt        func(arr uintptr, i int) uintptr
	dictGet        func(dict, key uintptr) uintptr
	numberGet      func(num uintptr, typ int, out unsafe.Pointer) bool
	stringGet      func(str uintptr, buf *byte, size int, enc uint32) bool
	release        func(ref uintptr)

	keySharing, keyPID, keyOwner, keyNumber uintptr
}

var loadCG = sync.OnceValues(func() (*cgAPI, error) {
	cg, err := purego.Dlopen("/System/Library/Frameworks/CoreGraphics.framework/CoreGraphics", purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("load CoreGraphics: %w", err)
	}
	cf, err := purego.Dlopen("/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation", purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("load CoreFoundation: %w", err)
	}
	a := &cgAPI{}
	purego.RegisterLibFunc(&a.copyWindowInfo, cg, "CGWindowListCopyWindowInfo")
	purego.RegisterLibFunc(&a.arrayCount, cf, "CFArrayGetCount")
	purego.RegisterLibFunc(&a.arrayAt, cf, "CFArrayGetValueAtIndex")
	purego.RegisterLibFunc(&a.dictGet, cf, "CFDictionaryGetValue")
	purego.RegisterLibFunc(&a.numberGet, cf, "CFNumberGetValue")
	purego.RegisterLibFunc(&a.stringGet, cf, "CFStringGetCString")
	purego.RegisterLibFunc(&a.release, cf, "CFRelease")
	for _, k := range []struct {
		name string
		dst  *uintptr
	}{
		{"kCGWindowSharingState", &a.keySharing}, {"kCGWindowOwnerPID", &a.keyPID},
		{"kCGWindowOwnerName", &a.keyOwner}, {"kCGWindowNumber", &a.keyNumber},
	} {
		addr, err := purego.Dlsym(cg, k.name)
		if err != nil {
			return nil, fmt.Errorf("CoreGraphics %s: %w", k.name, err)
		}
		// The symbol is a CFStringRef variable: read its value.
		*k.dst = **(**uintptr)(unsafe.Pointer(&addr))
	}
	return a, nil
})

func (a *cgAPI) int64Of(dict, key uintptr) (int64, bool) {
	n := a.dictGet(dict, key)
	if n == 0 {
		return 0, false
	}
	var v int64
	if !a.numberGet(n, cfNumberSInt64Type, unsafe.Pointer(&v)) {
		return 0, false
	}
	return v, true
}

func (a *cgAPI) stringOf(dict, key uintptr) string {
	s := a.dictGet(dict, key)
	if s == 0 {
		return ""
	}
	buf := make([]byte, 512)
	if !a.stringGet(s, &buf[0], len(buf), cfStringEncodingUTF8) {
		return ""
	}
	for i, b := range buf {
		if b == 0 {
			return string(buf[:i])
		}
	}
	return string(buf)
}

// listHiddenWindows lists the on-screen windows of other processes whose
// sharing state is none.
func listHiddenWindows(ctx context.Context, self int32) (windowScan, error) {
	var s windowScan
	a, err := loadCG()
	if err != nil {
		return s, err
	}
	arr := a.copyWindowInfo(cgWindowListOptionOnScreenOnly|cgWindowListExcludeDesktopElements, 0)
	if arr == 0 {
		return s, fmt.Errorf("CGWindowListCopyWindowInfo returned nothing (no window server session?): %w", ErrUnsupported)
	}
	defer a.release(arr)
	for i := range a.arrayCount(arr) {
		if ctx.Err() != nil {
			return s, ctx.Err()
		}
		d := a.arrayAt(arr, i)
		pid, ok := a.int64Of(d, a.keyPID)
		if !ok || int32(pid) == self {
			continue
		}
		s.Checked++
		state, ok := a.int64Of(d, a.keySharing)
		if !ok || state != cgWindowSharingNone {
			continue
		}
		num, _ := a.int64Of(d, a.keyNumber)
		s.Hidden = append(s.Hidden, HiddenWindow{Handle: uint64(num), PID: int32(pid), Program: a.stringOf(d, a.keyOwner), Mode: "sharing_none"})
	}
	return s, nil
}
