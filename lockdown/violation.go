package lockdown

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// Code says what kind of violation it is. The values are part of the wire
// protocol (the client sends violations as event messages): never rename one.
type Code string

// Violation codes.
const (
	CodeProcessProhibited Code = "process.prohibited"
	CodeProcessRemotePort Code = "process.remote_port"
	CodeDisplayCount      Code = "display.count"
	CodeVMDetected        Code = "vm.detected"
	CodeRemoteSession     Code = "remote.session"
	CodeCameraVirtual     Code = "camera.virtual"
	CodeFocusLost         Code = "focus.lost"
	CodeClipboardUsed     Code = "clipboard.used"
	CodeWindowHidden      Code = "window.hidden"
	CodeKeyBlocked        Code = "key.blocked"
	CodeKeyUsed           Code = "key.used"
)

// Severity grades a violation: the policy's flag gives a warning, block a
// critical violation.
type Severity string

// Severities.
const (
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

func severityFor(a policy.Action) Severity {
	if a == policy.Block {
		return SeverityCritical
	}
	return SeverityWarning
}

// Phase says whether an event opens or ends a violation.
type Phase string

// Phases. Every violation is sent twice: "open" when it starts and "end"
// (same ID, End set) when it stops. An instant one (a clipboard use) is
// opened and ended at once.
const (
	PhaseOpen Phase = "open"
	PhaseEnd  Phase = "end"
)

// Violation is one event of a violation, as the Monitor emits it.
type Violation struct {
	// ID is the same in a violation's open and end events.
	ID       string   `json:"id"`
	Code     Code     `json:"code"`
	Severity Severity `json:"severity"`
	Phase    Phase    `json:"phase"`
	// Summary is one line for the proctor ("AnyDesk (pid 4242) is
	// running").
	Summary string `json:"summary"`
	// Evidence is what the detector saw (pid, name, exe, rule, port,
	// display count...). An end event may add "resolution".
	Evidence map[string]string `json:"evidence,omitempty"`
	Start    time.Time         `json:"start"`
	// End is zero in an open event.
	End time.Time `json:"end,omitzero"`
}

// Sink receives the Monitor's violations. The client implements it and
// carries each event to the backend; lockdown does not import transport.
type Sink interface {
	// Violation is called for every open and end event, in order, from
	// one Monitor goroutine that holds no lock of the Monitor's: it may
	// call the Monitor's methods (not Close, which waits for the Sink to
	// take every event), and a slow Sink delays only later
	// events (the Monitor queues them; none is dropped), never the
	// detectors. Every event is delivered when Monitor.Close returns.
	Violation(v Violation)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Violation)

// Violation calls f(v).
func (f SinkFunc) Violation(v Violation) { f(v) }

// DisplaySink is an optional interface of a Sink: if the Sink implements
// it, the Monitor also reports every change in the displays' count or
// geometry (the capture layer may need to follow it).
type DisplaySink interface {
	// DisplaysChanged is called with the new displays, from the same
	// goroutine discipline as Violation.
	DisplaysChanged(at time.Time, displays []Display)
}

func newViolationID() string {
	var b [9]byte
	rand.Read(b[:])
	return "v-" + hex.EncodeToString(b[:])
}
