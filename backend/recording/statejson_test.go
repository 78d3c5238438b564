package recording

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestStateJSONMatchesMarshal checks appendJSON against json.Marshal on
// states with every field empty, set, extreme or in need of escaping.
func TestStateJSONMatchesMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(vs ...int64) int64 { return vs[r.IntN(len(vs))] }
	bytesOf := func() []byte {
		switch r.IntN(3) {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	}
	times := []time.Time{
		{},
		time.Unix(1_700_000_000, 0),
		time.Unix(1_700_000_000, 123_456_789).UTC(),
		time.Date(2026, 12, 5, 10, 0, 0, 500, time.FixedZone("x", 3600+1800)),
		time.UnixMicro(math.MaxInt64), // a year json.Marshal refuses
		time.Date(-3, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	codecs := []string{"", "avc1.42C01F", "a\"b", "<&>", "é", "\x01"}
	for i := range 5000 {
		st := State{
			Committed:      pick(0, 1, -1, math.MaxInt64, r.Int64()),
			NextSeq:        uint32(pick(0, 1, math.MaxUint32)),
			Start:          times[r.IntN(len(times))],
			LastDecode:     uint64(pick(0, 7, math.MaxInt64)) * uint64(1+r.IntN(2)),
			LastDuration:   uint32(pick(0, 6000, math.MaxUint32)),
			LastDurationAt: pick(0, 1, -5, r.Int64()),
			SPS:            bytesOf(),
			PPS:            bytesOf(),
			Width:          int(pick(0, 640, -1, math.MaxInt64)),
			Height:         int(pick(0, 480, math.MinInt64)),
			Codec:          codecs[r.IntN(len(codecs))],
			Frames:         pick(0, 1, r.Int64()),
			Keyframes:      pick(0, 2, -1),
			Dropped:        pick(0, 3),
			Invalid:        pick(0, 4),
			InbandParams:   pick(0, 5),
			ClampedTimes:   pick(0, 6, math.MinInt64),
		}
		want, werr := json.Marshal(st)
		got, gerr := st.appendJSON([]byte("x"))
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("state %d: error %v, json.Marshal's %v", i, gerr, werr)
		}
		if werr == nil && !bytes.Equal(got, append([]byte("x"), want...)) {
			t.Fatalf("state %d:\n got %s\nwant x%s", i, got, want)
		}
	}
}
