package recording

import (
	"encoding/binary"
	"math"
)

// trunEntry is one sample of a fragment's trun.
type trunEntry struct {
	dur, size, flags uint32
}

// lastDurationFromEnd is where appendMoof puts the last sample's duration:
// this many bytes before the moof's end (its trun entry is duration, size,
// flags, composition offset).
const lastDurationFromEnd = 16

// moofSize is the size of appendMoof's box for n samples starting at
// baseTime.
func moofSize(n int, baseTime uint64) int {
	tfdt := 16
	if baseTime > math.MaxUint32 {
		tfdt = 20
	}
	return 8 + 16 + 8 + 16 + tfdt + 20 + 16*n
}

// appendMoof appends the moof of a one-track fragment whose mdat (an
// 8-byte header) follows it: mfhd with seq; traf with tfhd (trackID,
// default-base-is-moof), tfdt (baseTime, version 1 past 32 bits) and one
// trun (version 1: data offset, and each sample's duration, size, flags and
// a zero composition offset). These are the bytes mp4ff's CreateFragment,
// AddSample, SetTrunDataOffsets and Moof.Encode make
// (TestAppendMoofMatchesMP4FF), without their 31 allocations a fragment
// (BenchmarkWriterWrite).
func appendMoof(b []byte, seq, trackID uint32, baseTime uint64, samples []trunEntry) []byte {
	size := moofSize(len(samples), baseTime)
	be := binary.BigEndian
	box := func(b []byte, size int, name string) []byte {
		return append(be.AppendUint32(b, uint32(size)), name...)
	}
	b = box(b, size, "moof")
	b = box(b, 16, "mfhd")
	b = be.AppendUint32(b, 0)
	b = be.AppendUint32(b, seq)
	b = box(b, size-8-16, "traf")
	b = box(b, 16, "tfhd")
	b = be.AppendUint32(b, 0x020000) // default-base-is-moof
	b = be.AppendUint32(b, trackID)
	if baseTime > math.MaxUint32 {
		b = box(b, 20, "tfdt")
		b = be.AppendUint32(b, 1<<24)
		b = be.AppendUint64(b, baseTime)
	} else {
		b = box(b, 16, "tfdt")
		b = be.AppendUint32(b, 0)
		b = be.AppendUint32(b, uint32(baseTime))
	}
	b = box(b, 20+16*len(samples), "trun")
	b = be.AppendUint32(b, 1<<24|0xf01) // version 1; data offset, duration, size, flags, composition offset
	b = be.AppendUint32(b, uint32(len(samples)))
	b = be.AppendUint32(b, uint32(size+8)) // the first sample's data, after mdat's header
	for _, s := range samples {
		b = be.AppendUint32(b, s.dur)
		b = be.AppendUint32(b, s.size)
		b = be.AppendUint32(b, s.flags)
		b = be.AppendUint32(b, 0)
	}
	return b
}
