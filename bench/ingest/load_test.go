package main

import (
	"encoding/json"
	"testing"

	"github.com/invigil/invigil/transport"
)

// TestParseAck: the load process's fast path reads the acks the backend
// writes, and leaves every other message to encoding/json.
func TestParseAck(t *testing.T) {
	for _, seq := range []uint64{0, 1, 57, ^uint64(0)} {
		b, _ := json.Marshal(transport.Control{Type: transport.TypeAck, Seq: seq})
		if got, ok := parseAck(b); !ok || got != seq {
			t.Errorf("%s: %d, %v", b, got, ok)
		}
	}
	for _, m := range []string{``, `{"type":"ack","seq":}`, `{"type":"ack","seq":-1}`, `{"type":"ack","seq":1,"x":2}`, `{"type":"finished","last_seq":3}`, `{"type":"ack","seq":1`} {
		if _, ok := parseAck([]byte(m)); ok {
			t.Errorf("%q parsed as an ack", m)
		}
	}
}
