package recording

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"
)

// TestAppendMoofMatchesMP4FF: the hand-written moof is mp4ff's, byte for
// byte, for one sample and many, sync and not, and a decode time past 32
// bits (tfdt version 1); and the last duration is where the writer patches it.
func TestAppendMoofMatchesMP4FF(t *testing.T) {
	for _, c := range []struct {
		seq  uint32
		base uint64
		n    int
	}{
		{1, 0, 1},
		{2, 90000, 3},
		{77, 123456789, 60},
		{5, math.MaxUint32, 2},
		{6, math.MaxUint32 + 1, 2},
		{math.MaxUint32, 1 << 40, 900},
	} {
		t.Run(fmt.Sprint(c.seq, "/", c.base, "/", c.n), func(t *testing.T) {
			frag, err := mp4.CreateFragment(c.seq, trackID)
			if err != nil {
				t.Fatal(err)
			}
			var entries []trunEntry
			for i := range c.n {
				flags := mp4.NonSyncSampleFlags | mp4.SampleDependsOn1
				if i%30 == 0 {
					flags = mp4.SyncSampleFlags
				}
				e := trunEntry{dur: uint32(6000 + i%7), size: uint32(1000 + 37*i), flags: flags}
				entries = append(entries, e)
				frag.AddSample(mp4.NewSample(e.flags, e.dur, e.size, 0), c.base+uint64(6000*i))
			}
			frag.SetTrunDataOffsets()
			var want bytes.Buffer
			if err := frag.Moof.Encode(&want); err != nil {
				t.Fatal(err)
			}
			got := appendMoof([]byte("prefix"), c.seq, trackID, c.base, entries)
			if !bytes.Equal(got[6:], want.Bytes()) {
				t.Fatalf("moof differs from mp4ff's:\n got % x\nwant % x", got[6:min(len(got), 120)], want.Bytes()[:min(want.Len(), 114)])
			}
			if len(got)-6 != moofSize(c.n, c.base) {
				t.Errorf("moofSize %d, encoded %d", moofSize(c.n, c.base), len(got)-6)
			}
			if d := binary.BigEndian.Uint32(got[len(got)-lastDurationFromEnd:]); d != entries[c.n-1].dur {
				t.Errorf("%d bytes before the end: %d, want the last duration %d", lastDurationFromEnd, d, entries[c.n-1].dur)
			}
		})
	}
}
