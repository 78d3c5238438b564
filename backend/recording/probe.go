package recording

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/bits"
	"github.com/Eyevinn/mp4ff/mp4"
)

// Info describes a recording file as parsed from disk.
type Info struct {
	Frames    int           // samples in complete fragments
	Keyframes int           // of which sync samples
	Fragments int           // complete moof+mdat pairs
	Duration  time.Duration // first sample's decode time to the last sample's end
	Width     int           // from the sample entry
	Height    int
	Codec     string // RFC 6381 codec string for MSE, e.g. "avc1.42C01F"
	// Start is the recording's start as stored in mvhd (whole seconds).
	Start time.Time
	// Bytes is the size of the valid prefix (init segment and complete
	// fragments); FileSize the size on disk. They differ by a torn tail.
	Bytes    int64
	FileSize int64
}

// maxMetaBox bounds the moov and moof boxes Probe reads into memory: a
// fragment of a few hundred samples has a moof of a few kilobytes.
const maxMetaBox = 16 << 20

// Probe parses the recording at path: init segment, then every complete
// fragment. A torn or garbage tail ends the parse without an error (Bytes
// tells where the valid part ends); a file whose start is not a valid init
// segment is an error.
func Probe(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("probe: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("probe: %w", err)
	}
	return ProbeReader(f, fi.Size())
}

// ProbeReader is Probe over any random-access reader of size bytes (for
// example a file still being written, up to its committed size).
func ProbeReader(r io.ReaderAt, size int64) (info Info, err error) {
	defer func() {
		// mp4ff's decoders are fuzzed upstream, but a recording is bytes
		// from disk: a parser bug must not take the backend down.
		if p := recover(); p != nil {
			err = fmt.Errorf("probe: malformed box (parser panic: %v)", p)
		}
	}()
	info.FileSize = size
	var (
		pos       int64
		haveMoov  bool
		pending   *mp4.MoofBox // moof waiting for its mdat
		firstTime = int64(-1)
		endTime   int64
	)
parse:
	for pos < size {
		hdr, hdrLen, ok := readHeader(r, pos, size)
		if !ok || pos+int64(hdr.Size) > size {
			break // torn tail or garbage
		}
		end := pos + int64(hdr.Size)
		switch hdr.Name {
		case "ftyp":
			info.Bytes = end
		case "moov":
			if haveMoov {
				return info, errors.New("probe: second moov")
			}
			box, err := decodeMeta(r, pos, hdr.Size)
			if err != nil {
				return info, fmt.Errorf("probe: init segment: %w", err)
			}
			moov, ok := box.(*mp4.MoovBox)
			if !ok || moov.Trak == nil {
				return info, errors.New("probe: moov without a track")
			}
			if err := describeTrack(&info, moov); err != nil {
				return info, err
			}
			haveMoov = true
			info.Bytes = end
		case "moof":
			if !haveMoov {
				return info, errors.New("probe: fragment before the init segment")
			}
			box, err := decodeMeta(r, pos, hdr.Size)
			if err != nil {
				break parse // an undecodable moof starts the garbage
			}
			moof, ok := box.(*mp4.MoofBox)
			if !ok || moof.Traf == nil || len(moof.Traf.Truns) == 0 {
				break parse
			}
			pending = moof
		case "mdat":
			if pending == nil || !trunFits(pending, pos+int64(hdrLen), end) {
				break parse // not ours, or a moof that points outside
			}
			start, dur, n, keys := fragmentTimes(pending)
			if firstTime < 0 {
				firstTime = start
			}
			endTime = max(endTime, start+dur)
			info.Frames += n
			info.Keyframes += keys
			info.Fragments++
			info.Bytes = end
			pending = nil
		case "free", "skip", "styp", "sidx", "prft", "emsg":
			// Allowed between fragments; the writer writes none of them.
		default:
			break parse // unknown top-level box: garbage starts here
		}
		pos = end
	}
	if !haveMoov {
		return info, errors.New("probe: no init segment")
	}
	if firstTime >= 0 {
		info.Duration = ticksToDuration(uint64(max(endTime-firstTime, 0)))
	}
	return info, nil
}

// readHeader reads a box header at pos.
func readHeader(r io.ReaderAt, pos, size int64) (mp4.BoxHeader, int, bool) {
	var b [16]byte
	n, _ := r.ReadAt(b[:min(int64(16), size-pos)], pos)
	if n < 8 {
		return mp4.BoxHeader{}, 0, false
	}
	boxSize := uint64(binary.BigEndian.Uint32(b[0:4]))
	name := string(b[4:8])
	hdrLen := 8
	if boxSize == 1 {
		if n < 16 {
			return mp4.BoxHeader{}, 0, false
		}
		boxSize, hdrLen = binary.BigEndian.Uint64(b[8:16]), 16
	}
	if boxSize < uint64(hdrLen) || boxSize > uint64(size) {
		return mp4.BoxHeader{}, 0, false
	}
	for _, c := range name {
		if c < 0x20 || c > 0x7e {
			return mp4.BoxHeader{}, 0, false
		}
	}
	return mp4.BoxHeader{Name: name, Size: boxSize, Hdrlen: hdrLen}, hdrLen, true
}

// decodeMeta reads a whole (bounded) box and decodes it with mp4ff's
// slice reader, which fails on child sizes that overrun instead of
// allocating them.
func decodeMeta(r io.ReaderAt, pos int64, size uint64) (mp4.Box, error) {
	if size > maxMetaBox {
		return nil, fmt.Errorf("box of %d bytes too large", size)
	}
	buf := make([]byte, size)
	if _, err := r.ReadAt(buf, pos); err != nil {
		return nil, err
	}
	return mp4.DecodeBoxSR(uint64(pos), bits.NewFixedSliceReader(buf))
}

func describeTrack(info *Info, moov *mp4.MoovBox) error {
	if moov.Mvhd != nil && moov.Mvhd.CreationTime > 0 {
		info.Start = time.Unix(int64(moov.Mvhd.CreationTime)-2082844800, 0).UTC()
	}
	stsd := moov.Trak.Mdia.Minf.Stbl.Stsd
	if stsd == nil || stsd.AvcX == nil || stsd.AvcX.AvcC == nil {
		return errors.New("probe: track is not AVC")
	}
	info.Width, info.Height = int(stsd.AvcX.Width), int(stsd.AvcX.Height)
	if spss := stsd.AvcX.AvcC.SPSnalus; len(spss) > 0 && ValidateSPS(spss[0]) == nil {
		if sps, err := avc.ParseSPSNALUnit(spss[0], false); err == nil {
			info.Codec = avc.CodecString(stsd.AvcX.Type(), sps)
		}
	}
	return nil
}

// fragmentTimes returns a fragment's base decode time, summed duration,
// sample count and sync-sample count.
func fragmentTimes(moof *mp4.MoofBox) (start, dur int64, n, keys int) {
	traf := moof.Traf
	if traf.Tfdt != nil {
		start = int64(traf.Tfdt.BaseMediaDecodeTime())
	}
	for _, trun := range traf.Truns {
		for i, s := range trun.Samples {
			dur += int64(s.Dur)
			flags := s.Flags
			if i == 0 {
				if f, ok := trun.FirstSampleFlags(); ok {
					flags = f
				}
			}
			if mp4.IsSyncSampleFlags(flags) {
				keys++
			}
		}
		n += len(trun.Samples)
	}
	return start, dur, n, keys
}

// trunFits checks that every trun's samples lie within [dataStart, end).
func trunFits(moof *mp4.MoofBox, dataStart, end int64) bool {
	for _, trun := range moof.Traf.Truns {
		off := int64(moof.StartPos) + int64(trun.DataOffset)
		if off < dataStart {
			return false
		}
		var total int64
		for _, s := range trun.Samples {
			total += int64(s.Size)
		}
		if off+total > end {
			return false
		}
	}
	return true
}
