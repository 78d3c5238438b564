package lockdown

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/shirou/gopsutil/v4/host"
)

// detectVM combines gopsutil's virtualization guess (which also names
// containers: docker, lxc, podman...), the DMI strings the firmware reports
// and the CPU's "hypervisor" flag, which every mainstream hypervisor sets.
func detectVM(ctx context.Context) (vmEvidence, error) {
	ev := vmEvidence{facts: map[string]string{}}
	sources := 0
	if system, role, err := host.VirtualizationWithContext(ctx); err == nil {
		sources++
		if system != "" {
			ev.facts["virtualization"] = system + " " + role
			if role == "guest" {
				ev.detected = true
				ev.reasons = append(ev.reasons, "running as a "+system+" guest")
			}
		}
	}
	for _, f := range []string{"sys_vendor", "product_name", "product_version", "board_vendor", "bios_vendor", "chassis_vendor"} {
		b, err := os.ReadFile("/sys/class/dmi/id/" + f)
		if err != nil {
			continue
		}
		sources++
		v := strings.TrimSpace(string(b))
		if v == "" {
			continue
		}
		ev.facts["dmi."+f] = v
		if m := vmVendorMatch(v); m != "" {
			ev.detected = true
			ev.reasons = append(ev.reasons, "firmware "+f+" is "+v)
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sources++
		for line := range strings.Lines(string(b)) {
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.TrimSpace(k) != "flags" {
				continue
			}
			if strings.Contains(" "+strings.TrimSpace(v)+" ", " hypervisor ") {
				ev.facts["cpu.hypervisor_flag"] = "set"
				ev.detected = true
				ev.reasons = append(ev.reasons, "the CPU reports a hypervisor")
			} else {
				ev.facts["cpu.hypervisor_flag"] = "clear"
			}
			break
		}
	}
	if sources == 0 {
		return ev, errors.New("neither /sys/class/dmi/id nor /proc/cpuinfo could be read")
	}
	return ev, nil
}
