package lockdown

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// detectVM reads the firmware strings Windows keeps in the registry (the
// same SMBIOS data as Linux's /sys/class/dmi/id).
func detectVM(context.Context) (vmEvidence, error) {
	return detectVMKey(`HARDWARE\DESCRIPTION\System\BIOS`)
}

// detectVMKey reads the firmware strings from the key path under
// HKEY_LOCAL_MACHINE.
func detectVMKey(path string) (vmEvidence, error) {
	ev := vmEvidence{facts: map[string]string{}}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE)
	if err != nil {
		return ev, fmt.Errorf("read the BIOS registry key: %w", err)
	}
	defer k.Close()
	for _, name := range []string{"SystemManufacturer", "SystemProductName", "BIOSVendor", "BaseBoardManufacturer"} {
		v, _, err := k.GetStringValue(name)
		if err != nil || v == "" {
			continue
		}
		ev.facts["bios."+name] = v
		if vmVendorMatch(v) != "" {
			ev.detected = true
			ev.reasons = append(ev.reasons, "firmware "+name+" is "+v)
		}
	}
	if len(ev.facts) == 0 {
		return ev, errors.New("the BIOS registry key has no firmware strings")
	}
	return ev, nil
}
