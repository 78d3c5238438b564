package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Version is the policy schema version this build understands.
const Version = 1

// Policy is an exam policy (docs/policy.md). The lockdown work extends this
// schema; Parse is the only way in.
type Policy struct {
	Version int    `json:"version"`
	Name    string `json:"name,omitempty"`
}

// Parse decodes and validates a policy document. Unknown fields are errors,
// so that a typo in a policy is caught when the exam is created, not during it.
func Parse(b []byte) (*Policy, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	if dec.More() {
		return nil, errors.New("parse policy: trailing data after the document")
	}
	if p.Version != Version {
		return nil, fmt.Errorf("parse policy: version %d, this build understands %d", p.Version, Version)
	}
	return &p, nil
}
