package lockdown

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/invigil/invigil/lockdown/policy"
)

// hashPolicy is the default policy plus a rule that matches a renamed
// portable tool by its SHA-256 only.
func hashPolicy(t *testing.T, sum string) *policy.Policy {
	t.Helper()
	p := policy.Default()
	p.Processes.Prohibited = append(p.Processes.Prohibited, policy.ProcessRule{
		ID: "portable-tool", Name: "Portable remote tool", Category: "remote_access", SHA256: []string{sum}, Action: policy.Block,
	})
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

func findPID(fs []ProcessFinding, pid int) (ProcessFinding, bool) {
	i := slices.IndexFunc(fs, func(f ProcessFinding) bool { return int(f.PID) == pid })
	if i < 0 {
		return ProcessFinding{}, false
	}
	return fs[i], true
}

// TestCheckRealProcesses starts a copy of sleep named like a prohibited
// tool, the same copy under an innocent name (matched by hash) and a process
// listening on a VNC port, and expects the system check to fail on each.
func TestCheckRealProcesses(t *testing.T) {
	dir := t.TempDir()
	anydesk, sum := copySleep(t, dir, "anydesk")
	innocent, _ := copySleep(t, dir, "notes-helper")
	named := startProc(t, anydesk)
	renamed := startProc(t, innocent)
	lis, port := startListener(t)

	r := Check(context.Background(), hashPolicy(t, sum), CheckOptions{})
	if !r.Failed() {
		t.Errorf("report status = %s, want fail", r.Status)
	}
	procs, _ := r.Check(CheckProcesses)
	if procs.Status != StatusFail {
		t.Errorf("%s status = %s, want fail", CheckProcesses, procs.Status)
	}
	for _, tt := range []struct {
		pid          int
		rule, reason string
		fix          string
	}{
		{named.Process.Pid, "anydesk", "name", fmt.Sprintf("Close AnyDesk (pid %d)", named.Process.Pid)},
		{renamed.Process.Pid, "portable-tool", "sha256", fmt.Sprintf("Close Portable remote tool (notes-helper, pid %d)", renamed.Process.Pid)},
	} {
		f, ok := findPID(procs.Processes, tt.pid)
		if !ok {
			t.Errorf("pid %d (%s) not flagged; findings %+v", tt.pid, tt.rule, procs.Processes)
			continue
		}
		if f.RuleID != tt.rule || f.Reason != tt.reason || f.Action != "block" {
			t.Errorf("pid %d: got rule %q reason %q action %q, want %q %q block", tt.pid, f.RuleID, f.Reason, f.Action, tt.rule, tt.reason)
		}
		if !slices.Contains(procs.Fixes, tt.fix) {
			t.Errorf("fixes %q lack %q", procs.Fixes, tt.fix)
		}
	}
	ports, _ := r.Check(CheckRemotePorts)
	f, ok := findPID(ports.Processes, lis.Process.Pid)
	if ports.Status != StatusFail || !ok || f.Port != port || f.Program != "VNC" || f.Address != "127.0.0.1" {
		t.Errorf("listener pid %d on %d: status %s, finding %+v (ok %v)", lis.Process.Pid, port, ports.Status, f, ok)
	}
	closable := r.Closable()
	for _, pid := range []int{named.Process.Pid, renamed.Process.Pid, lis.Process.Pid} {
		if _, ok := findPID(closable, pid); !ok {
			t.Errorf("Closable() lacks pid %d", pid)
		}
	}
	// The report is JSON for `invigil check --json` and the client.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Checks) != len(r.Checks) {
		t.Errorf("report does not round-trip: %v", err)
	}
	// Every check has a stable ID, a title and, unless it passed, a
	// summary; unknown ones carry the reason.
	for _, c := range r.Checks {
		if c.ID == "" || c.Title == "" || c.Summary == "" {
			t.Errorf("incomplete check %+v", c)
		}
		if c.Status == StatusUnknown && c.Error == "" {
			t.Errorf("check %s is unknown without a reason", c.ID)
		}
	}
}

// With nothing prohibited running, the process checks pass (a policy whose
// only rule matches nothing that runs here).
func TestCheckClean(t *testing.T) {
	p := policy.Default()
	p.Processes.Prohibited = []policy.ProcessRule{{ID: "x", Name: "X", Category: "other", Names: policy.OSList{All: []string{"no-such-program-here"}}, Action: policy.Block}}
	p.RemotePorts = []policy.PortRule{{Name: "nothing", Port: 1, Action: policy.Block}}
	r := Check(context.Background(), p, CheckOptions{Getenv: func(string) string { return "" }})
	for _, id := range []string{CheckProcesses, CheckRemotePorts} {
		if c, _ := r.Check(id); c.Status != StatusPass {
			t.Errorf("%s = %s (%s), want pass", id, c.Status, c.Summary)
		}
	}
}

func TestNoDisplayIsUnknown(t *testing.T) {
	t.Setenv("DISPLAY", "")
	r := Check(context.Background(), policy.Default(), CheckOptions{})
	c, _ := r.Check(CheckDisplays)
	if c.Status != StatusUnknown || !strings.Contains(c.Error, "DISPLAY") {
		t.Errorf("displays without DISPLAY: %s %q, want unknown with the reason", c.Status, c.Error)
	}
	if r.Status == StatusPass {
		t.Error("report passes although a check could not tell")
	}
}

// Each VM policy on evidence that says VM, on evidence that says not, and
// when the evidence could not be read.
func TestVMCheckPolicies(t *testing.T) {
	vm := vmEvidence{detected: true, facts: map[string]string{"sys_vendor": "QEMU"}, reasons: []string{"the hardware vendor is QEMU"}}
	bare := vmEvidence{facts: map[string]string{"sys_vendor": "Dell Inc."}}
	for _, tt := range []struct {
		name   string
		action policy.Action
		ev     vmEvidence
		err    error
		want   Status
	}{
		{"VM, flag", policy.Flag, vm, nil, StatusWarn},
		{"VM, block", policy.Block, vm, nil, StatusFail},
		{"VM, allow", policy.Allow, vm, nil, StatusPass},
		{"no VM, block", policy.Block, bare, nil, StatusPass},
		{"unreadable, block", policy.Block, vmEvidence{}, errors.New("no DMI"), StatusUnknown},
	} {
		p := policy.Default()
		p.VirtualMachine = tt.action
		got := vmCheck(p, tt.ev, tt.err)
		if got.Status != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got.Status, tt.want)
		}
		if tt.err == nil && len(got.Evidence) == 0 {
			t.Errorf("%s: no evidence in the report", tt.name)
		}
		if (got.Status == StatusWarn || got.Status == StatusFail) && (len(got.Fixes) == 0 || !strings.Contains(got.Summary, "QEMU")) {
			t.Errorf("%s: summary %q, fixes %v", tt.name, got.Summary, got.Fixes)
		}
	}
}

// On this machine the evidence can be read (DMI, cpuinfo, systemd's and
// gopsutil's views), and the check reports what it found.
func TestVMThisMachine(t *testing.T) {
	ev, err := detectVM(context.Background())
	if err != nil {
		t.Fatalf("cannot read VM evidence: %v", err)
	}
	t.Logf("VM detected: %v; facts: %s", ev.detected, factsString(ev.facts))
	got := vmResult(context.Background(), policy.Default())
	want := StatusPass
	if ev.detected {
		want = StatusWarn
	}
	if got.Status != want || len(got.Evidence) == 0 {
		t.Errorf("default policy: %s with evidence %v, want %s with evidence", got.Status, got.Evidence, want)
	}
}

func TestVMVendorMatch(t *testing.T) {
	tests := []struct{ in, want string }{
		{"QEMU", "qemu"},
		{"innotek GmbH", "innotek"},
		{"VMware, Inc.", "vmware"},
		{"Microsoft Corporation Virtual Machine", "virtual machine"},
		{"KVM", "kvm"},
		{"Dell Inc.", ""},
		{"LENOVO ThinkPad X1 Carbon", ""},
		{"Xenon Systems", ""}, // "xen" only as a word
		{"Xen", "xen"},
	}
	for _, tt := range tests {
		if got := vmVendorMatch(tt.in); got != tt.want {
			t.Errorf("vmVendorMatch(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRemoteSession(t *testing.T) {
	p := policy.Default()
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	got := remoteResult(context.Background(), p, env(map[string]string{"SSH_CONNECTION": "10.1.2.3 50000 10.1.2.4 22"}))
	if got.Status != StatusFail || !strings.Contains(got.Summary, "10.1.2.3") {
		t.Errorf("SSH session under the default policy: %s %q, want fail naming the client", got.Status, got.Summary)
	}
	got = remoteResult(context.Background(), p, env(map[string]string{"XRDP_SESSION": "1"}))
	if got.Status != StatusFail {
		t.Errorf("xrdp session: %s, want fail", got.Status)
	}
	got = remoteResult(context.Background(), p, env(nil))
	if got.Status == StatusFail {
		t.Errorf("no remote-session evidence: %s (%s)", got.Status, got.Summary)
	}
	p.RemoteSession = policy.Flag
	if got := remoteResult(context.Background(), p, env(map[string]string{"SSH_TTY": "/dev/pts/1"})); got.Status != StatusWarn {
		t.Errorf("flag policy: %s, want warn", got.Status)
	}
}

func TestCheckCameras(t *testing.T) {
	p := policy.Default()
	tests := []struct {
		name string
		cams []Camera
		want Status
	}{
		{"not known", nil, StatusUnknown},
		{"none", []Camera{}, StatusUnknown},
		{"real", []Camera{{Label: "Integrated Camera: Integrated C"}}, StatusPass},
		{"obs by label", []Camera{{Label: "Integrated Camera"}, {Label: "OBS Virtual Camera"}}, StatusFail},
		{"v4l2loopback by capture", []Camera{{Label: "Dummy", Virtual: true, VirtualReason: "v4l2loopback driver"}}, StatusFail},
		{"case-insensitive", []Camera{{Label: "manycam virtual webcam"}}, StatusFail},
	}
	for _, tt := range tests {
		if got := CheckCameras(p, tt.cams); got.Status != tt.want {
			t.Errorf("%s: %s (%s), want %s", tt.name, got.Status, got.Summary, tt.want)
		}
	}
	p.VirtualCamera.Action = policy.Flag
	if got := CheckCameras(p, []Camera{{Label: "OBS Virtual Camera"}}); got.Status != StatusWarn {
		t.Errorf("flag policy: %s, want warn", got.Status)
	}
}

// TestErrUnsupportedIsStandard: lockdown's "cannot do it here" is the
// standard library's (and capture's) one sentinel.
func TestErrUnsupportedIsStandard(t *testing.T) {
	if !errors.Is(fmt.Errorf("detector: %w", ErrUnsupported), errors.ErrUnsupported) {
		t.Fatal("lockdown.ErrUnsupported does not wrap errors.ErrUnsupported")
	}
}
