package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Version is the policy schema version this build understands.
const Version = 1

// Policy is an exam policy. docs/policy.md documents every field, its default
// and its meaning; Parse is the only way in, and it fills in the defaults of
// the fields a document leaves out.
type Policy struct {
	Version int    `json:"version"`
	Name    string `json:"name,omitempty"`
	// MinClientVersion is the oldest client release ("x.y" or "x.y.z")
	// that may join the exam; the backend refuses an older one with
	// client_outdated. Empty: any version.
	MinClientVersion string `json:"min_client_version,omitempty"`
	// ExamBrowser is the exam's web page and where the browser the client
	// opens for it may go (exambrowser.go). Absent: no exam browser.
	ExamBrowser ExamBrowser `json:"exam_browser,omitzero"`

	// Processes lists the prohibited processes and the exceptions to them.
	Processes Processes `json:"processes"`
	// RemotePorts are TCP ports whose listeners are remote-access servers,
	// whatever the listening program is called. Absent: DefaultRemotePorts.
	RemotePorts []PortRule `json:"remote_ports"`
	// Displays bounds the number of active displays.
	Displays Displays `json:"displays"`
	// VirtualMachine says what to do when the machine is a virtual machine
	// (default flag: VM checks misfire on real laptops with hypervisors on).
	VirtualMachine Action `json:"virtual_machine"`
	// RemoteSession says what to do when the client runs inside a remote
	// session (RDP, SSH, VNC) (default block).
	RemoteSession Action `json:"remote_session"`
	// VirtualCamera says what to do with a virtual camera device.
	VirtualCamera VirtualCamera `json:"virtual_camera"`
	// Clipboard is allow, clear or block (default clear).
	Clipboard ClipboardMode `json:"clipboard"`
	// FocusLoss says what to do when the exam window loses focus.
	FocusLoss FocusLoss `json:"focus_loss"`
	// AllowedApps are the programs the student may switch to during the
	// exam: focus on them is not a focus loss (allowedapps.go).
	AllowedApps []AllowedApp `json:"allowed_apps,omitempty"`
	// HiddenWindows says what to do about a window of another program
	// that hides itself from screen capture (Windows display affinity,
	// macOS sharing type none) (default block).
	HiddenWindows Action `json:"hidden_windows"`
	// Kiosk is the desktop lockdown during the exam: blocked keys, the
	// exam window on top, quiet notifications (Windows).
	Kiosk Kiosk `json:"kiosk"`
	// Enforcement says whether prohibited processes are closed.
	Enforcement Enforcement `json:"enforcement"`
	// Capture holds the camera and screen recording settings.
	Capture Capture `json:"capture"`
	// Privacy is what the consent screen tells the student.
	Privacy Privacy `json:"privacy"`
}

// Action is what a detection leads to.
type Action string

// The actions. Allow ignores a detection, flag reports it (a warning in the
// system check, a warning-severity violation during the exam), block makes it
// a failure that stops the exam from starting and a critical violation.
const (
	Allow Action = "allow"
	Flag  Action = "flag"
	Block Action = "block"
)

func (a Action) valid() bool { return a == Allow || a == Flag || a == Block }

// Processes lists prohibited processes and the exceptions to them.
type Processes struct {
	Prohibited []ProcessRule `json:"prohibited"`
	Allowed    []AllowRule   `json:"allowed"`
}

// A ProcessRule names one prohibited program.
type ProcessRule struct {
	// ID is a stable identifier ("anydesk"), unique within the policy.
	ID string `json:"id"`
	// Name is the program's name as a student knows it ("AnyDesk").
	Name string `json:"name"`
	// Category is one of Categories.
	Category string `json:"category"`
	// Names are process-name patterns per OS (see MatchName).
	Names OSList `json:"names"`
	// SHA256 are hex SHA-256 digests of the program's executables: a
	// renamed copy still matches.
	SHA256 []string `json:"sha256,omitempty"`
	// Action is flag or block (default block).
	Action Action `json:"action"`
}

// Categories are the allowed values of ProcessRule.Category.
var Categories = []string{"remote_access", "screen_sharing", "meeting", "recording", "chat", "virtual_camera", "virtual_machine", "ai_assistant", "other"}

// An AllowRule exempts processes from the prohibited rules and from the
// remote-port check: a school's sanctioned tool, say.
type AllowRule struct {
	Name   string   `json:"name"`
	Names  OSList   `json:"names"`
	SHA256 []string `json:"sha256,omitempty"`
}

// OSList is a list of patterns per operating system; All applies everywhere.
type OSList struct {
	All     []string `json:"all,omitempty"`
	Linux   []string `json:"linux,omitempty"`
	Windows []string `json:"windows,omitempty"`
	Darwin  []string `json:"darwin,omitempty"`
}

// For returns the patterns that apply on goos (a GOOS value).
func (l OSList) For(goos string) []string {
	out := append([]string(nil), l.All...)
	switch goos {
	case "linux":
		out = append(out, l.Linux...)
	case "windows":
		out = append(out, l.Windows...)
	case "darwin":
		out = append(out, l.Darwin...)
	}
	return out
}

func (l OSList) empty() bool {
	return len(l.All)+len(l.Linux)+len(l.Windows)+len(l.Darwin) == 0
}

// A PortRule names TCP ports (Port to To, inclusive) that remote-access
// servers listen on.
type PortRule struct {
	Name string `json:"name"`
	Port int    `json:"port"`
	// To ends the range; 0 means Port alone.
	To int `json:"to,omitempty"`
	// Action is flag or block (default block).
	Action Action `json:"action"`
}

// Last returns the last port of the rule's range.
func (r PortRule) Last() int {
	if r.To == 0 {
		return r.Port
	}
	return r.To
}

// Contains reports whether port is in the rule's range.
func (r PortRule) Contains(port int) bool { return port >= r.Port && port <= r.Last() }

// DefaultRemotePorts are the ports a policy gets when it leaves remote_ports
// out.
func DefaultRemotePorts() []PortRule {
	return []PortRule{
		{Name: "VNC", Port: 5900, To: 5909, Action: Block},
		{Name: "RDP", Port: 3389, Action: Block},
		{Name: "AnyDesk", Port: 7070, Action: Block},
		{Name: "TeamViewer", Port: 5938, Action: Block},
		{Name: "RustDesk", Port: 21115, To: 21119, Action: Block},
		{Name: "Chrome Remote Desktop", Port: 5222, Action: Flag},
		{Name: "NoMachine", Port: 4000, Action: Flag},
		{Name: "Splashtop", Port: 6783, To: 6784, Action: Block},
	}
}

// Displays bounds the number of active displays.
type Displays struct {
	// Max is the most displays allowed, 1 to 16 (default 1).
	Max int `json:"max"`
	// Action applies when there are more (default block).
	Action Action `json:"action"`
}

// VirtualCamera is the virtual-camera policy.
type VirtualCamera struct {
	// Action applies to a camera that is virtual (default block).
	Action Action `json:"action"`
	// Labels are case-insensitive substrings of device labels that mark a
	// camera as virtual, on top of what the capture layer itself reports.
	// Absent: DefaultVirtualCameraLabels.
	Labels []string `json:"labels"`
}

// DefaultVirtualCameraLabels are the label substrings a policy gets when it
// leaves virtual_camera.labels out.
func DefaultVirtualCameraLabels() []string {
	return []string{
		"OBS Virtual Camera", "OBS-Camera", "OBS Cam", "v4l2loopback", "Dummy video device",
		"ManyCam", "Snap Camera", "XSplit VCam", "e2eSoft", "VCam", "CamTwist",
		"mmhmm", "NVIDIA Broadcast", "Virtual Camera", "Virtual Webcam", "Unity Video Capture",
		"SplitCam", "YouCam", "Logi Capture", "ChromaCam", "Camo",
	}
}

// ClipboardMode is the clipboard policy.
type ClipboardMode string

// Clipboard modes. Allow leaves the clipboard alone. Clear empties it when
// the exam starts and when it ends, so nothing prepared beforehand can be
// pasted and nothing from the exam leaves with it. Block clears it too, and
// every copy or paste the exam window sees is a violation.
const (
	ClipboardAllow ClipboardMode = "allow"
	ClipboardClear ClipboardMode = "clear"
	ClipboardBlock ClipboardMode = "block"
)

// FocusLoss is the exam-window focus policy.
type FocusLoss struct {
	// Action applies while the exam window is not focused (default flag).
	Action Action `json:"action"`
	// GraceMS ignores focus losses shorter than this, 0 to 60000 (default
	// 1000): a notification stealing focus for a moment is not cheating.
	GraceMS int `json:"grace_ms"`
}

// Kiosk is the desktop lockdown during the exam. Windows enforces it
// (docs/policy.md, "kiosk"); on Linux and macOS the fields are accepted and
// have no effect, and the exam's status says so.
type Kiosk struct {
	// WindowsKey covers the Windows keys (and with them every Win+
	// shortcut) and Ctrl+Esc, which open the Start menu (default block).
	WindowsKey Action `json:"windows_key"`
	// PrintScreen covers the PrintScreen key with any modifier
	// (default block).
	PrintScreen Action `json:"print_screen"`
	// AppSwitch covers switching to other programs: Alt+Tab,
	// Alt+Shift+Tab, Alt+Esc and Ctrl+Shift+Esc (Task Manager), and a
	// window of another program coming to the front (default block).
	AppSwitch Action `json:"app_switch"`
	// SwitchTo are name patterns of programs the student may switch to
	// even when AppSwitch is block (a calculator, the exam's browser).
	// With none, the switching keys are swallowed; with some, they work
	// and only those programs' windows may stay in front.
	SwitchTo OSList `json:"switch_to"`
	// Topmost keeps the exam window above every other window (default
	// true).
	Topmost bool `json:"topmost"`
	// QuietNotifications stops notifications from stealing focus or
	// showing banners during the exam (default true).
	QuietNotifications bool `json:"quiet_notifications"`
}

// Terminate says how prohibited processes are closed.
type Terminate string

// Terminate values: never close them (the student must), ask the student
// first (the check screen's "Close these apps" button; during the exam a
// prompt), or close them automatically.
const (
	TerminateNever Terminate = "never"
	TerminateAsk   Terminate = "ask"
	TerminateAuto  Terminate = "auto"
)

// Enforcement says whether and how prohibited processes are closed.
type Enforcement struct {
	// Terminate is never, ask or auto (default ask).
	Terminate Terminate `json:"terminate"`
	// GraceSeconds is how long a process gets to exit after the polite
	// request (SIGTERM, WM_CLOSE) before it is killed, 1 to 60 (default 5).
	GraceSeconds int `json:"grace_seconds"`
}

// Capture holds the recording settings.
type Capture struct {
	Camera Stream `json:"camera"`
	Screen Stream `json:"screen"`
}

// Stream is one recorded track.
type Stream struct {
	Enabled bool `json:"enabled"`
	// Width and Height are the frame size; 0 and 0 means the source's own
	// size (the screen's native resolution).
	Width  int `json:"width"`
	Height int `json:"height"`
	// FPS is the frame rate, more than 0 and at most 60.
	FPS float64 `json:"fps"`
	// BitrateKbps is the target H.264 bitrate, 20 to 20000.
	BitrateKbps int `json:"bitrate_kbps"`
	// KeyframeIntervalS is the time between keyframes in seconds, 0.5 to 300.
	KeyframeIntervalS float64 `json:"keyframe_interval_s"`
}

// Privacy is what the consent screen tells the student.
type Privacy struct {
	// Captured lists what is recorded, one item a line.
	Captured []string `json:"captured"`
	// Viewers lists who sees the recordings.
	Viewers []string `json:"viewers"`
	// RetentionDays is how long recordings are kept, 1 to 3650 (default 30).
	RetentionDays int `json:"retention_days"`
	// Contact is who to ask about the data (an address or a URL).
	Contact string `json:"contact,omitempty"`
	// Notice, when set, replaces the shipped notice template (Go
	// text/template syntax, see RenderNotice).
	Notice string `json:"notice,omitempty"`
}

// defaults is the policy the fields of a document fall back to. Slices are
// filled in after decoding, since encoding/json decodes array elements into
// existing ones without zeroing them.
func defaults() Policy {
	return Policy{
		Displays:       Displays{Max: 1, Action: Block},
		VirtualMachine: Flag,
		RemoteSession:  Block,
		VirtualCamera:  VirtualCamera{Action: Block},
		Clipboard:      ClipboardClear,
		FocusLoss:      FocusLoss{Action: Flag, GraceMS: 1000},
		HiddenWindows:  Block,
		Kiosk:          Kiosk{WindowsKey: Block, PrintScreen: Block, AppSwitch: Block, Topmost: true, QuietNotifications: true},
		Enforcement:    Enforcement{Terminate: TerminateAsk, GraceSeconds: 5},
		Capture: Capture{
			Camera: Stream{Enabled: true, Width: 640, Height: 480, FPS: 15, BitrateKbps: 150, KeyframeIntervalS: 2},
			Screen: Stream{Enabled: true, FPS: 1, BitrateKbps: 80, KeyframeIntervalS: 10},
		},
		Privacy: Privacy{RetentionDays: 30},
	}
}

func (p *Policy) fillSlices() {
	if p.RemotePorts == nil {
		p.RemotePorts = DefaultRemotePorts()
	}
	if p.VirtualCamera.Labels == nil {
		p.VirtualCamera.Labels = DefaultVirtualCameraLabels()
	}
	if p.Privacy.Captured == nil {
		p.Privacy.Captured = []string{}
		if p.Capture.Camera.Enabled {
			p.Privacy.Captured = append(p.Privacy.Captured, "your webcam video")
		}
		if p.Capture.Screen.Enabled {
			p.Privacy.Captured = append(p.Privacy.Captured, "your screen")
		}
		p.Privacy.Captured = append(p.Privacy.Captured, "the system check and lockdown violations (running programs, displays, focus changes)")
	}
	if p.Privacy.Viewers == nil {
		p.Privacy.Viewers = []string{"the exam's proctors and examiners"}
	}
	if p.Processes.Prohibited == nil {
		p.Processes.Prohibited = []ProcessRule{}
	}
	if p.Processes.Allowed == nil {
		p.Processes.Allowed = []AllowRule{}
	}
	for i := range p.Processes.Prohibited {
		if p.Processes.Prohibited[i].Action == "" {
			p.Processes.Prohibited[i].Action = Block
		}
		if p.Processes.Prohibited[i].Category == "" {
			p.Processes.Prohibited[i].Category = "other"
		}
		for j, h := range p.Processes.Prohibited[i].SHA256 {
			p.Processes.Prohibited[i].SHA256[j] = strings.ToLower(h)
		}
	}
	for i := range p.Processes.Allowed {
		for j, h := range p.Processes.Allowed[i].SHA256 {
			p.Processes.Allowed[i].SHA256[j] = strings.ToLower(h)
		}
	}
	p.fillAllowedApps()
	for i := range p.RemotePorts {
		if p.RemotePorts[i].Action == "" {
			p.RemotePorts[i].Action = Block
		}
	}
}

// maxPolicySize bounds a policy document; the shipped default is ~20 KB.
const maxPolicySize = 4 << 20

// Parse decodes and validates a policy document and fills in the defaults of
// the fields it leaves out. Unknown fields are errors, so that a typo in a
// policy is caught when the exam is created, not during it. A validation
// error lists every problem, one a line, each with its JSON path.
func Parse(b []byte) (*Policy, error) {
	if len(b) > maxPolicySize {
		return nil, fmt.Errorf("parse policy: %d bytes, more than the %d allowed", len(b), maxPolicySize)
	}
	// Duplicate names and invalid UTF-8 are refused, as in a signed policy.
	if _, err := Canonical(b); err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	// The version is checked first, so that a newer policy is refused
	// with a message about the version rather than about a field this
	// build does not know.
	var head struct {
		Version *int `json:"version"`
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("parse policy: the document is not a JSON object")
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	if head.Version == nil {
		return nil, errors.New(`parse policy: no "version" field`)
	}
	if *head.Version != Version {
		return nil, fmt.Errorf("parse policy: version %d, this build understands %d", *head.Version, Version)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	p := defaults()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("parse policy: trailing data after the document")
	}
	p.fillSlices()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}
