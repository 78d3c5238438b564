package lockdown

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
	registerKioskUndoers(u) // kiosk_windows.go
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
