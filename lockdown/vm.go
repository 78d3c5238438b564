package lockdown

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// vmEvidence is what the virtual-machine detector found.
type vmEvidence struct {
	// detected: at least one source says this is a virtual machine or a
	// container.
	detected bool
	// facts are what each source said, for the report.
	facts map[string]string
	// reasons are the facts that point to a VM, in words.
	reasons []string
}

// vmVendors are substrings of DMI/BIOS/model strings that only virtual
// hardware reports.
var vmVendors = []string{
	"qemu", "kvm", "vmware", "virtualbox", "innotek", "xen", "bochs", "parallels",
	"virtual machine", "hyper-v", "amazon ec2", "google compute engine", "bhyve",
	"openstack", "digitalocean", "hetzner vserver", "apple virtual", "virtualmac", "utm",
}

// vmVendorMatch returns the vendor substring found in s, if any.
func vmVendorMatch(s string) string {
	l := strings.ToLower(s)
	for _, v := range vmVendors {
		if v == "utm" || v == "kvm" || v == "xen" {
			// Short names: match whole words only.
			for _, w := range strings.FieldsFunc(l, func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9') }) {
				if w == v {
					return v
				}
			}
			continue
		}
		if strings.Contains(l, v) {
			return v
		}
	}
	return ""
}

func vmResult(ctx context.Context, p *policy.Policy) CheckResult {
	ev, err := detectVM(ctx)
	return vmCheck(p, ev, err)
}

// vmCheck turns what detectVM found (or its error) into the check result
// policy p asks for.
func vmCheck(p *policy.Policy, ev vmEvidence, err error) CheckResult {
	r := CheckResult{ID: CheckVM, Title: "Virtual machine"}
	if err != nil {
		r.Status, r.Error = StatusUnknown, err.Error()
		r.Summary = "Could not tell whether this is a virtual machine"
		return r
	}
	r.Evidence = ev.facts
	if !ev.detected {
		r.Status = StatusPass
		r.Summary = "No sign of a virtual machine"
		return r
	}
	r.Status = statusFor(p.VirtualMachine)
	r.Summary = "This computer looks like a virtual machine or container: " + strings.Join(ev.reasons, "; ")
	if r.Status != StatusPass {
		r.Fixes = []string{"Take the exam on a physical computer, not in a virtual machine"}
		if r.Status == StatusWarn {
			r.Fixes = []string{"Nothing to do if this is your own computer: the proctor sees this note (laptops with virtualization features on can look like VMs)"}
		}
	}
	return r
}

func factsString(m map[string]string) string {
	var b []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = append(b, fmt.Sprintf("%s=%s", k, m[k]))
	}
	return strings.Join(b, " ")
}

// vmDetector is the virtual-machine family: signs of a VM or a container
// are a vm.detected violation, and a check that warns or fails, per the
// policy's virtual_machine (VM checks cause false alarms on real laptops:
// the default flags).
type vmDetector struct{}

func (vmDetector) name() string { return "virtual_machine" }

func (vmDetector) check(ctx context.Context, in *checkInput) []CheckResult {
	return []CheckResult{vmResult(ctx, in.p)}
}

func (vmDetector) watch(m *Monitor) closeHooks {
	m.wg.Go(func() {
		m.poll(m.opts.SessionInterval, func(now time.Time) {
			ev, err := detectVM(m.ctx)
			m.detectorErr("virtual_machine", err)
			if err != nil {
				return
			}
			var conds []cond
			if ev.detected && m.p.VirtualMachine != policy.Allow {
				conds = append(conds, cond{key: "vm", code: CodeVMDetected, sev: severityFor(m.p.VirtualMachine),
					summary: "Virtual machine or container: " + strings.Join(ev.reasons, "; "), evidence: ev.facts})
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			m.reconcileLocked("vm", conds, now)
		})
	})
	return closeHooks{}
}
