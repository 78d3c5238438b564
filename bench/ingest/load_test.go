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

// TestWindowsLine: a round lists every window; a soak the first four and
// then its worst.
func TestWindowsLine(t *testing.T) {
	rep := &loadReport{ConnectedMS: []int64{100, 200, 300}}
	for i := range 20 {
		p95 := int64(10e3)
		if i == 13 {
			p95 = 900e3
		}
		rep.Windows = append(rep.Windows, latencyWindow{FromS: 5 * i, Messages: 1, LatencyUS: []int64{1e3, p95, 2 * p95}})
	}
	got := windowsLine(rep)
	want := "connected after p50 100.0ms, p95 200.0ms, last 300.0ms; ack p95/p99 by capture time: 0s 10.0ms/20.0ms 5s 10.0ms/20.0ms 10s 10.0ms/20.0ms 15s 10.0ms/20.0ms; from 20s on, the worst window (65s) 900.0ms/1800.0ms" +
		"\n  each minute's worst window, ack p95/p99: 0m 10.0ms/20.0ms 1m 900.0ms/1800.0ms"
	if got != want {
		t.Errorf("soak:\n got %s\nwant %s", got, want)
	}
	rep.Windows = rep.Windows[:3]
	if got, want := windowsLine(rep), "connected after p50 100.0ms, p95 200.0ms, last 300.0ms; ack p95/p99 by capture time: 0s 10.0ms/20.0ms 5s 10.0ms/20.0ms 10s 10.0ms/20.0ms"; got != want {
		t.Errorf("round:\n got %s\nwant %s", got, want)
	}
}
