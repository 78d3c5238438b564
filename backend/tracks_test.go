package backend

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// TestRawTrackStateIsJSON checks the hand-written raw track state against
// json.Marshal, which earlier builds stored and openRawTrack reads.
func TestRawTrackStateIsJSON(t *testing.T) {
	for _, off := range []int64{0, 8, 1 << 40, math.MaxInt64, -1} {
		got, err := (&rawTrack{off: off}).State()
		want, _ := json.Marshal(rawState{Offset: off})
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("offset %d: %s, %v; want %s", off, got, err, want)
		}
	}
}
