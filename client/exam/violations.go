package exam

import (
	"encoding/json"

	"github.com/invigil/invigil/lockdown"
)

// ViolationSink carries lockdown's violations to the backend as events
// "violation.open" and "violation.end" (docs/policy.md lists the codes).
// Paths in them name no user (redact.go).
func (s *Session) ViolationSink() lockdown.Sink {
	r := newRedactor()
	return lockdown.SinkFunc(func(v lockdown.Violation) {
		v = r.violation(v)
		if err := s.EventValue("violation."+string(v.Phase), v); err != nil {
			s.log.Error("violation not spooled", "code", v.Code, "err", err)
		}
	})
}

// EventValue sends an event whose fields are v's JSON object fields.
func (s *Session) EventValue(typ string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	return s.Event(typ, fields)
}
