package transport

import (
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestChainVector checks Chain, the one digest function of the client's
// spool and the backend, against the test vector written in
// docs/protocol.md section 5: d(1) and d(2) for one event frame.
func TestChainVector(t *testing.T) {
	doc := readProtocolDoc(t)
	sec := doc[strings.Index(doc, "## 5. Digest"):]
	sec = sec[:strings.Index(sec, "### 5.1")]
	block := regexp.MustCompile("(?s)```\n(frame = .*?)```").FindStringSubmatch(sec)
	if block == nil {
		t.Fatal("docs/protocol.md section 5 has no test vector block")
	}
	v := map[string]string{}
	for _, line := range strings.Split(block[1], "\n") {
		if k, val, ok := strings.Cut(line, "="); ok {
			v[strings.TrimSpace(k)] = strings.Fields(val)[0]
		}
	}
	frame := AppendFrame(nil, Header{Kind: KindEvent, Track: TrackEvents, Seq: 1, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		[]byte(`{"type":"session.started"}`))
	if got := hex.EncodeToString(frame); got != v["frame"] {
		t.Fatalf("frame %s, the document says %s", got, v["frame"])
	}
	d1 := Chain([32]byte{}, frame)
	if got := hex.EncodeToString(d1[:]); got != v["d(1)"] {
		t.Errorf("d(1) = %s, the document says %s", got, v["d(1)"])
	}
	d2 := Chain(d1, frame)
	if got := hex.EncodeToString(d2[:]); got != v["d(2)"] {
		t.Errorf("d(2) over the same frame again = %s, the document says %s", got, v["d(2)"])
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
