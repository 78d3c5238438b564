package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// registryDWORD is the undo data of "registry.dword": a value under
// HKEY_CURRENT_USER (kiosk settings such as DisableTaskMgr live there) and
// what it was before; Existed false means it did not exist.
type registryDWORD struct {
	Key     string `json:"key"`
	Name    string `json:"name"`
	Existed bool   `json:"existed"`
	Old     uint32 `json:"old"`
}

func registerOSUndoers(u map[string]Undoer) {
	u["registry.dword"] = undoRegistryDWORD
	u["kiosk.foreground_lock_timeout"] = undoForegroundLockTimeout
}

// SetUserDWORD sets a DWORD value under HKEY_CURRENT_USER, recording the
// old value in the journal first so that finish, crash recovery and
// `invigil reset` put it back.
func (j *Journal) SetUserDWORD(key, name string, v uint32) error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, key, registry.QUERY_VALUE|registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("registry %s: %w", key, err)
	}
	defer k.Close()
	u := registryDWORD{Key: key, Name: name}
	if old, _, err := k.GetIntegerValue(name); err == nil {
		u.Existed, u.Old = true, uint32(old)
	}
	if _, err := j.Record("registry.dword", fmt.Sprintf(`set HKCU\%s\%s to %d`, key, name, v), u); err != nil {
		return err
	}
	return k.SetDWordValue(name, v)
}

func undoRegistryDWORD(_ context.Context, raw json.RawMessage) error {
	var u registryDWORD
	if err := json.Unmarshal(raw, &u); err != nil {
		return fmt.Errorf("registry.dword: %w", err)
	}
	k, err := registry.OpenKey(registry.CURRENT_USER, u.Key, registry.SET_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("registry.dword: %w", err)
	}
	defer k.Close()
	if !u.Existed {
		if err := k.DeleteValue(u.Name); err != nil && !errors.Is(err, registry.ErrNotExist) {
			return fmt.Errorf("registry.dword: %w", err)
		}
		return nil
	}
	return k.SetDWordValue(u.Name, u.Old)
}

var procSystemParametersInfoW = windows.NewLazySystemDLL("user32.dll").NewProc("SystemParametersInfoW")

const (
	spiGetForegroundLockTimeout = 0x2000
	spiSetForegroundLockTimeout = 0x2001
	spifSendChange              = 0x02
)

// foregroundLockUndo is the undo data of "kiosk.foreground_lock_timeout".
type foregroundLockUndo struct {
	Old uint32 `json:"old"`
}

// ForegroundLockTimeout returns the foreground lock timeout (ms): how long
// after the user's last input Windows refuses to let another program take
// the foreground.
func ForegroundLockTimeout() (uint32, error) {
	var v uint32
	r, _, err := procSystemParametersInfoW.Call(spiGetForegroundLockTimeout, 0, uintptr(unsafe.Pointer(&v)), 0)
	if r == 0 {
		return 0, fmt.Errorf("SPI_GETFOREGROUNDLOCKTIMEOUT: %w", err)
	}
	return v, nil
}

// SetForegroundLockTimeout sets the foreground lock timeout to v ms,
// recording the old value in the journal first (kind
// "kiosk.foreground_lock_timeout") so that finish, crash recovery and
// `invigil reset` put it back. It records and changes nothing when the
// value is v already.
func (j *Journal) SetForegroundLockTimeout(v uint32) error {
	old, err := ForegroundLockTimeout()
	if err != nil {
		return err
	}
	if old == v {
		return nil
	}
	if _, err := j.Record("kiosk.foreground_lock_timeout",
		fmt.Sprintf("set the foreground lock timeout to %d ms (was %d ms)", v, old), foregroundLockUndo{Old: old}); err != nil {
		return fmt.Errorf("journal foreground lock: %w", err)
	}
	return setForegroundLockTimeout(v)
}

// setForegroundLockTimeout sets the value for this logon session only (no
// SPIF_UPDATEINIFILE): a log-off restores the user's own value too.
func setForegroundLockTimeout(v uint32) error {
	r, _, err := procSystemParametersInfoW.Call(spiSetForegroundLockTimeout, 0, uintptr(v), spifSendChange)
	if r == 0 {
		return fmt.Errorf("SPI_SETFOREGROUNDLOCKTIMEOUT: %w", err)
	}
	return nil
}

func undoForegroundLockTimeout(_ context.Context, raw json.RawMessage) error {
	var u foregroundLockUndo
	if err := json.Unmarshal(raw, &u); err != nil {
		return fmt.Errorf("kiosk.foreground_lock_timeout: %w", err)
	}
	return setForegroundLockTimeout(u.Old)
}
