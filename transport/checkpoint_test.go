package transport

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

// The test vector of docs/protocol.md section 5: d(1) for one event frame.
func TestChainVector(t *testing.T) {
	frame := AppendFrame(nil, Header{Kind: KindEvent, Track: TrackEvents, Seq: 1, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		[]byte(`{"type":"session.started"}`))
	const wantFrame = "01020000000000000000000100064748462040007b2274797065223a2273657373696f6e2e73746172746564227d"
	if got := hex.EncodeToString(frame); got != wantFrame {
		t.Fatalf("frame %s, want %s", got, wantFrame)
	}
	d1 := Chain([32]byte{}, frame)
	const want1 = "0209feb53b9acb5de83c00ff052c2a2cafbbabab9d8358286efbda394a522d76"
	if got := hex.EncodeToString(d1[:]); got != want1 {
		t.Errorf("d(1) = %s, want %s", got, want1)
	}
	d2 := Chain(d1, frame)
	const want2 = "7464e6502afa6abc1a1345bf6cb14afa3a34136fec373b087ea7f2ce84d866ca"
	if got := hex.EncodeToString(d2[:]); got != want2 {
		t.Errorf("d(2) over the same frame again = %s, want %s", got, want2)
	}
}

func TestParseCheckpoint(t *testing.T) {
	d := "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"type":"checkpoint","seq":7,"digest":"` + d + `"}`, true},
		{`{"type":"checkpoint","digest":"` + d + `"}`, false},
		{`{"type":"checkpoint","seq":7}`, false},
		{`{"type":"checkpoint","seq":7,"digest":"` + d[:62] + `"}`, false},
		{`{"type":"checkpoint","seq":7,"digest":"` + d[:63] + `x"}`, false},
	} {
		c, err := ParseControl([]byte(tc.in))
		if got := err == nil; got != tc.ok {
			t.Errorf("ParseControl(%s): err %v, want ok %v", tc.in, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadControl) {
			t.Errorf("ParseControl(%s): %v is not ErrBadControl", tc.in, err)
		}
		if err == nil && (c.Seq != 7 || c.Digest != d) {
			t.Errorf("ParseControl(%s) = %+v", tc.in, c)
		}
	}
}

// TestCheckpointSchedule: one when more was captured and the interval
// passed, after a sync; none for an empty spool or nothing new.
func TestCheckpointSchedule(t *testing.T) {
	s := mustOpen(t, t.TempDir(), SpoolOptions{SyncInterval: time.Hour})
	defer s.Close()
	cp := &checkpointer{every: 2 * time.Second}
	now := time.Now()
	if b := cp.due(s, now, true); b != nil {
		t.Fatalf("checkpoint of an empty spool: %s", b)
	}
	appendN(t, s, 1, 3)
	b := cp.due(s, now, true) // syncs first
	if st := s.Status(); st.SyncedSeq != 3 {
		t.Fatalf("checkpoint did not sync: %+v", st)
	}
	c, err := ParseControl(b)
	if err != nil || c.Type != TypeCheckpoint || c.Seq != 3 || c.Digest != wantDigest(t, 3) {
		t.Fatalf("checkpoint %s: %v", b, err)
	}
	appendN(t, s, 4, 4)
	if b := cp.due(s, now.Add(time.Second), false); b != nil {
		t.Errorf("checkpoint before the interval: %s", b)
	}
	if b := cp.due(s, now.Add(2*time.Second), false); b == nil {
		t.Errorf("no checkpoint after the interval")
	}
	if b := cp.due(s, now.Add(5*time.Second), false); b != nil {
		t.Errorf("checkpoint with nothing new: %s", b)
	}
	if b := (&checkpointer{}).due(s, now, true); b != nil {
		t.Errorf("checkpoint when the backend asked for none: %s", b)
	}
}

func TestCheckpointBudget(t *testing.T) {
	var b budget
	now := time.Now()
	n := 0
	for i := 0; i < 100; i++ {
		if b.take(now, time.Second, 4) {
			n++
		}
	}
	if n != 4 {
		t.Fatalf("burst passed %d, want 4", n)
	}
	if !b.take(now.Add(time.Second), time.Second, 4) || b.take(now.Add(time.Second), time.Second, 4) {
		t.Error("one more per period")
	}
	got := 0
	for i := 0; i < 10; i++ {
		if b.take(now.Add(time.Hour), time.Second, 4) {
			got++
		}
	}
	if got != 4 {
		t.Errorf("after a long pause %d pass, want the burst of 4", got)
	}
}
