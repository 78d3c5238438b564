package lockdown

import (
	"context"
	"errors"

	"golang.org/x/sys/unix"
)

// detectVM asks the kernel: kern.hv_vmm_present is 1 inside a virtual
// machine (Apple Virtualization, Parallels, VMware, UTM), and hw.model names
// virtual hardware ("VirtualMac2,1", "VMware7,1").
func detectVM(context.Context) (vmEvidence, error) {
	ev := vmEvidence{facts: map[string]string{}}
	sources := 0
	if v, err := unix.SysctlUint32("kern.hv_vmm_present"); err == nil {
		sources++
		if v == 1 {
			ev.facts["kern.hv_vmm_present"] = "1"
			ev.detected = true
			ev.reasons = append(ev.reasons, "the kernel reports a hypervisor")
		} else {
			ev.facts["kern.hv_vmm_present"] = "0"
		}
	}
	if m, err := unix.Sysctl("hw.model"); err == nil {
		sources++
		ev.facts["hw.model"] = m
		if vmVendorMatch(m) != "" {
			ev.detected = true
			ev.reasons = append(ev.reasons, "the hardware model is "+m)
		}
	}
	if sources == 0 {
		return ev, errors.New("sysctl kern.hv_vmm_present and hw.model could not be read")
	}
	return ev, nil
}
