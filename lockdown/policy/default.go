package policy

import (
	"encoding/json"
	"sync"

	"github.com/invigil/invigil/assets"
)

var defaultPolicy = sync.OnceValues(func() (*Policy, error) { return Parse(assets.DefaultPolicy) })

// Default returns a copy of the shipped default policy
// (assets/default-policy.json). It panics if the embedded document does not
// parse, which TestDefault rules out.
func Default() *Policy {
	p, err := defaultPolicy()
	if err != nil {
		panic("embedded default policy: " + err.Error())
	}
	return p.Clone()
}

// Clone returns a deep copy of p.
func (p *Policy) Clone() *Policy {
	b, err := json.Marshal(p)
	if err != nil {
		panic("clone policy: " + err.Error())
	}
	var q Policy
	if err := json.Unmarshal(b, &q); err != nil {
		panic("clone policy: " + err.Error())
	}
	return &q
}
