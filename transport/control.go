package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Control message types (docs/protocol.md section 2).
const (
	TypeHello      = "hello"
	TypeWelcome    = "welcome"
	TypeAck        = "ack"
	TypeCommand    = "command"
	TypeCommandAck = "command_ack"
	TypeFinish     = "finish"
	TypeFinished   = "finished"
	TypeError      = "error"
)

// Control is any JSON control message. Type selects which other fields mean
// something; ParseControl checks that the ones a type needs are present.
type Control struct {
	Type string `json:"type"`

	// hello
	Protocol  int         `json:"protocol,omitempty"`
	SessionID string      `json:"session_id,omitempty"`
	ConfigKey string      `json:"config_key,omitempty"`
	NextSeq   uint64      `json:"next_seq,omitempty"`
	Client    *ClientInfo `json:"client,omitempty"`
	// Commands lists the commands beyond protocol v1's first six that
	// the client understands (CommandKeyframe); a backend sends only those.
	Commands []string `json:"commands,omitempty"`

	// welcome
	LastAck     uint64 `json:"last_ack,omitempty"`
	State       string `json:"state,omitempty"`
	HeartbeatMS int    `json:"heartbeat_ms,omitempty"`
	// CheckpointMS: send a checkpoint this often (0: none; checkpoint.go).
	CheckpointMS int `json:"checkpoint_ms,omitempty"`

	// ack
	Seq uint64 `json:"seq,omitempty"`

	// command, command_ack
	ID      string    `json:"id,omitempty"`
	Command string    `json:"command,omitempty"`
	Text    string    `json:"text,omitempty"`
	At      time.Time `json:"at,omitzero"`

	// finish, finished
	LastSeq uint64 `json:"last_seq,omitempty"`
	Digest  string `json:"digest,omitempty"`

	// error
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// MarshalJSON writes the fields of c's type. A field a type requires is
// always written, also when it is zero (welcome's last_ack 0 for a fresh
// session, finished's last_seq 0 for an empty one); optional fields are
// left out when empty.
func (c Control) MarshalJSON() ([]byte, error) {
	switch c.Type {
	case TypeHello:
		return json.Marshal(struct {
			Type      string      `json:"type"`
			Protocol  int         `json:"protocol"`
			SessionID string      `json:"session_id"`
			ConfigKey string      `json:"config_key"`
			NextSeq   uint64      `json:"next_seq"`
			Client    *ClientInfo `json:"client,omitempty"`
			Commands  []string    `json:"commands,omitempty"`
		}{c.Type, c.Protocol, c.SessionID, c.ConfigKey, c.NextSeq, c.Client, c.Commands})
	case TypeWelcome:
		return json.Marshal(struct {
			Type        string `json:"type"`
			SessionID   string `json:"session_id"`
			LastAck     uint64 `json:"last_ack"`
			State       string `json:"state"`
			HeartbeatMS int    `json:"heartbeat_ms"`
			// Optional: absent means no checkpoints (section 5.1).
			CheckpointMS int `json:"checkpoint_ms,omitempty"`
		}{c.Type, c.SessionID, c.LastAck, c.State, c.HeartbeatMS, c.CheckpointMS})
	case TypeAck:
		return appendAck(nil, c.Seq), nil
	case TypeFinish:
		return json.Marshal(struct {
			Type    string `json:"type"`
			LastSeq uint64 `json:"last_seq"`
		}{c.Type, c.LastSeq})
	case TypeFinished:
		return json.Marshal(struct {
			Type    string `json:"type"`
			LastSeq uint64 `json:"last_seq"`
			Digest  string `json:"digest"`
		}{c.Type, c.LastSeq, c.Digest})
	}
	type plain Control // without this method
	return json.Marshal(plain(c))
}

// appendAck appends the ack of seq to b: {"type":"ack","seq":N}.
func appendAck(b []byte, seq uint64) []byte {
	return append(strconv.AppendUint(append(b, `{"type":"ack","seq":`...), seq, 10), '}')
}

// Session states in welcome.
const (
	StateActive = "active"
	StatePaused = "paused"
)

// Commands a backend sends to a client.
const (
	CommandChat     = "chat"
	CommandWarn     = "warn"
	CommandPause    = "pause"
	CommandResume   = "resume"
	CommandEnd      = "end"
	CommandSnapshot = "snapshot"
	// CommandKeyframe asks for an IDR on the track its text names
	// ("camera" or "screen"), for a live viewer who arrived late. A backend
	// sends it only to a client whose hello lists it.
	CommandKeyframe = "keyframe"
)

// ValidCommand reports whether c is a command of protocol v1.
func ValidCommand(c string) bool {
	switch c {
	case CommandChat, CommandWarn, CommandPause, CommandResume, CommandEnd, CommandSnapshot, CommandKeyframe:
		return true
	}
	return false
}

// ErrBadControl is wrapped by every ParseControl error.
var ErrBadControl = errors.New("bad control message")

// ParseControl decodes and validates a control message.
func ParseControl(b []byte) (*Control, error) {
	if len(b) > MaxControlBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(b), MaxControlBytes)
	}
	var c Control
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadControl, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrBadControl)
	}
	bad := func(what string) (*Control, error) {
		return nil, fmt.Errorf("%w: %s %s", ErrBadControl, c.Type, what)
	}
	switch c.Type {
	case TypeHello:
		if c.Protocol == 0 {
			return bad("without protocol")
		}
		if c.SessionID == "" {
			return bad("without session_id")
		}
		if len(c.ConfigKey) != 64 {
			return bad("without a 64-hex-digit config_key")
		}
		if c.NextSeq == 0 {
			return bad("without next_seq (1 or more)")
		}
	case TypeWelcome:
		if c.SessionID == "" || (c.State != StateActive && c.State != StatePaused) {
			return bad("without session_id or state")
		}
	case TypeAck:
		if c.Seq == 0 {
			return bad("without seq")
		}
	case TypeCommand:
		if c.ID == "" || !ValidCommand(c.Command) {
			return bad(fmt.Sprintf("with id %q and command %q", c.ID, c.Command))
		}
	case TypeCommandAck:
		if c.ID == "" {
			return bad("without id")
		}
	case TypeCheckpoint:
		if err := checkCheckpoint(&c); err != nil {
			return nil, err
		}
	case TypeFinish, TypeFinished:
		// last_seq 0 is a session that sent nothing.
	case TypeError:
		if c.Code == "" {
			return bad("without code")
		}
	case "":
		return nil, fmt.Errorf("%w: no type", ErrBadControl)
	default:
		return nil, fmt.Errorf("%w: unknown type %q", ErrBadControl, c.Type)
	}
	return &c, nil
}

// Wire error codes, shared by HTTP answers and websocket errors.
const (
	CodeBadRequest          = "bad_request"
	CodeBadMessage          = "bad_message"
	CodeUnauthorized        = "unauthorized"
	CodeUnknownCode         = "unknown_code"
	CodeExamNotOpen         = "exam_not_open"
	CodeExamClosed          = "exam_closed"
	CodeConfigKeyMismatch   = "config_key_mismatch"
	CodeReplaced            = "replaced"
	CodeSessionFinished     = "session_finished"
	CodeTooLarge            = "too_large"
	CodeSequenceGap         = "sequence_gap"
	CodeSequenceConflict    = "sequence_conflict"
	CodeTimeout             = "timeout"
	CodeNotFound            = "not_found" // HTTP only
	CodeConflict            = "conflict"  // HTTP only
	CodeUnsupportedProtocol = "unsupported_protocol"
	CodeInternal            = "internal"
	CodeUnavailable         = "unavailable"
	// CodeRateLimited (HTTP 429) asks the client to wait for the answer's
	// Retry-After and try again; Join and Resume do that themselves.
	CodeRateLimited = "rate_limited"
	// CodeClientOutdated (HTTP 426) refuses a join from a client older than
	// the exam policy's min_client_version.
	CodeClientOutdated = "client_outdated"
)

// closeCodes maps wire error codes to websocket close codes.
var closeCodes = map[string]int{
	CodeBadMessage:          4400,
	CodeBadRequest:          4400,
	CodeUnauthorized:        4401,
	CodeConfigKeyMismatch:   4403,
	CodeTimeout:             4408,
	CodeReplaced:            4409,
	CodeSessionFinished:     4410,
	CodeExamClosed:          4411,
	CodeSequenceConflict:    4412,
	CodeTooLarge:            4413,
	CodeSequenceGap:         4422,
	CodeUnsupportedProtocol: 4426,
	CodeInternal:            4500,
	CodeUnavailable:         4503,
}

// CloseCode is the websocket close code for a wire error code.
func CloseCode(code string) int {
	if c, ok := closeCodes[code]; ok {
		return c
	}
	return 4500
}

// Sentinel errors a caller branches on. Error maps wire codes to them.
var (
	ErrUnauthorized        = errors.New("not authorised: the session token was refused")
	ErrUnknownCode         = errors.New("no exam has this join code")
	ErrExamNotOpen         = errors.New("the exam is not open yet")
	ErrExamClosed          = errors.New("the exam is closed")
	ErrConfigKeyMismatch   = errors.New("the backend expects a different exam policy (config key mismatch)")
	ErrSessionFinished     = errors.New("the session is already finished")
	ErrReplaced            = errors.New("another connection of this session took over")
	ErrProtocolUnsupported = errors.New("the backend does not speak this protocol version")
)

// RemoteError is an error the other side reported with a wire code.
type RemoteError struct {
	Code    string
	Message string
	OpensAt time.Time // for exam_not_open
}

func (e *RemoteError) Error() string {
	if e.Message == "" {
		return "backend error " + e.Code
	}
	return e.Message
}

// Unwrap maps the wire code to this package's sentinel errors; this is the one
// place that does so.
func (e *RemoteError) Unwrap() error {
	switch e.Code {
	case CodeUnauthorized:
		return ErrUnauthorized
	case CodeUnknownCode:
		return ErrUnknownCode
	case CodeExamNotOpen:
		return ErrExamNotOpen
	case CodeExamClosed:
		return ErrExamClosed
	case CodeConfigKeyMismatch:
		return ErrConfigKeyMismatch
	case CodeSessionFinished:
		return ErrSessionFinished
	case CodeReplaced:
		return ErrReplaced
	case CodeUnsupportedProtocol:
		return ErrProtocolUnsupported
	}
	return nil
}

// Permanent reports whether retrying cannot help. replaced is not
// permanent: the client reconnects with backoff, so that a second
// connection with a leaked token cannot lock the student out
// (docs/protocol.md section 2).
func (e *RemoteError) Permanent() bool {
	switch e.Code {
	case CodeUnauthorized, CodeUnknownCode, CodeExamClosed, CodeConfigKeyMismatch,
		CodeSessionFinished, CodeUnsupportedProtocol, CodeTooLarge, CodeBadRequest,
		CodeSequenceConflict, CodeNotFound, CodeConflict:
		return true
	}
	return false
}

// codeForCloseCode is the wire code of a websocket close code, for a close
// frame that arrives without a preceding error message.
func codeForCloseCode(cc int) string {
	for code, c := range closeCodes {
		if c == cc && code != CodeBadRequest {
			return code
		}
	}
	return ""
}
