package recording

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/mp4"
)

// Timescale of the video track: the usual 90 kHz of H.264.
const Timescale = 90000

// nominalDuration is the first sample's duration when nothing better is
// known (1/15 s: the camera's default rate).
const nominalDuration = Timescale / 15

const trackID = 1

// ErrCorrupt means the file on disk does not match the State it is opened
// with (it is shorter than the committed size).
var ErrCorrupt = errors.New("recording: file does not match its state")

// Sample is one H.264 access unit in Annex-B format with its capture time.
type Sample struct {
	Data     []byte
	Keyframe bool // informational: the writer looks at the NAL units
	Time     time.Time
}

// State is everything needed to continue a recording after a crash. It is
// plain data, JSON-marshalable; the zero State means "new file".
type State struct {
	// Committed is the size of the file's valid prefix: the init segment
	// and every complete fragment.
	Committed int64 `json:"committed"`
	// NextSeq is the mfhd sequence number of the next fragment (from 1).
	NextSeq uint32 `json:"next_seq"`
	// Start is the capture time of decode time 0 (the first sample
	// written); zero until the init segment is written.
	Start time.Time `json:"start,omitzero"`
	// LastDecode is the decode time (90 kHz ticks) of the last written
	// sample and LastDuration the duration it was given.
	LastDecode   uint64 `json:"last_decode"`
	LastDuration uint32 `json:"last_duration"`
	// LastDurationAt is the file offset of the last sample's duration
	// field, which the next Write stretches to reach its first sample.
	LastDurationAt int64 `json:"last_duration_at,omitempty"`
	// SPS and PPS of the sample entry (nil until the init segment).
	SPS []byte `json:"sps,omitempty"`
	PPS []byte `json:"pps,omitempty"`
	// Width, Height and Codec (RFC 6381, e.g. "avc1.42C01F") from the SPS.
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	Codec  string `json:"codec,omitempty"`
	// Counters.
	Frames       int64 `json:"frames"`        // samples written
	Keyframes    int64 `json:"keyframes"`     // of which IDR
	Dropped      int64 `json:"dropped"`       // samples kept out (see package doc)
	Invalid      int64 `json:"invalid"`       // samples refused by CheckAccessUnit's bounds
	InbandParams int64 `json:"inband_params"` // keyframes carrying other SPS/PPS
	ClampedTimes int64 `json:"clamped_times"` // samples not after their predecessor
}

func (s State) initialised() bool { return s.Committed > 0 }

// Duration is the media time covered by the written samples.
func (s State) Duration() time.Duration {
	if s.Frames == 0 {
		return 0
	}
	return ticksToDuration(s.LastDecode + uint64(s.LastDuration))
}

func (s State) clone() State {
	s.SPS = bytes.Clone(s.SPS)
	s.PPS = bytes.Clone(s.PPS)
	return s
}

// Writer appends fragments to one track file. Its methods are safe for
// concurrent use, but a track has one writer: two Writers on one file
// corrupt it.
type Writer struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	st      State
	newFile bool  // the directory entry still needs an fsync
	broken  error // a failed write could not be rolled back
	closed  bool
	// tail is the file's bytes from st.LastDurationAt to st.Committed
	// (the last fragment's last duration field to its end), kept when
	// short: the next Write then patches that field and appends its
	// fragment in one write instead of two. nil when not known.
	tail []byte
	trun []trunEntry // Write's scratch
}

// maxTail bounds the tail a Writer keeps (Writer.tail): a fragment of a
// few seconds of camera video, not a huge batch's.
const maxTail = 64 << 10

// Open opens path for writing. With a zero st (Committed == 0) it creates
// or truncates the file; st's counters are kept (samples dropped before the
// first keyframe stay counted). Otherwise the file must be at least
// st.Committed long: it is truncated to that size, dropping any torn tail,
// and writing continues after it.
func Open(path string, st State) (*Writer, error) {
	w := &Writer{path: path, st: st.clone()}
	if !st.initialised() {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("recording: create: %w", err)
		}
		if err := f.Chmod(0o600); err != nil { // an older file keeps its mode
			f.Close()
			return nil, fmt.Errorf("recording: %w", err)
		}
		w.f, w.newFile = f, true
		w.st.Committed, w.st.NextSeq = 0, 1
		return w, nil
	}
	if len(st.SPS) == 0 || len(st.PPS) == 0 || st.NextSeq == 0 {
		return nil, fmt.Errorf("recording: state with committed data but no parameter sets or sequence: %w", ErrCorrupt)
	}
	// The state comes from the caller's store, but its SPS came from a
	// client once: it goes through the same bounds before mp4ff sees it.
	if err := ValidateSPS(st.SPS); err != nil {
		return nil, fmt.Errorf("recording: state SPS: %w: %w", err, ErrCorrupt)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("recording: open: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("recording: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("recording: stat: %w", err)
	}
	if fi.Size() < st.Committed {
		f.Close()
		return nil, fmt.Errorf("recording: %s is %d bytes, state says %d committed: %w", path, fi.Size(), st.Committed, ErrCorrupt)
	}
	if fi.Size() > st.Committed {
		if err := f.Truncate(st.Committed); err != nil {
			f.Close()
			return nil, fmt.Errorf("recording: drop torn tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("recording: sync after truncate: %w", err)
		}
	}
	if _, err := avc.ParseSPSNALUnit(st.SPS, false); err != nil {
		f.Close()
		return nil, fmt.Errorf("recording: state SPS: %w", ErrCorrupt)
	}
	w.f = f
	return w, nil
}

// State returns the state as of the last Write. Store it after Sync.
func (w *Writer) State() State {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st.clone()
}

// Sync makes everything written so far durable (and, for a new file, its
// directory entry).
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("recording: sync: %w", err)
	}
	if w.newFile {
		if err := syncDir(filepath.Dir(w.path)); err != nil {
			return fmt.Errorf("recording: sync directory: %w", err)
		}
		w.newFile = false
	}
	return nil
}

// Close closes the file. It does not sync. It is idempotent.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return w.f.Close()
}

func (w *Writer) usable() error {
	if w.closed {
		return errors.New("recording: writer closed")
	}
	return w.broken
}

// Write appends one fragment (moof+mdat) holding samples, writing the init
// segment first when the first keyframe with SPS/PPS arrives. Samples that
// cannot be placed are dropped and counted (State.Dropped), samples that
// break CheckAccessUnit's bounds are kept out before any parser sees them
// and counted (State.Invalid); a batch with nothing to write writes
// nothing. On error the file is rolled back to the last committed size.
func (w *Writer) Write(samples []Sample) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	st := w.st.clone()    // applied only when the bytes are on disk
	var head bytes.Buffer // the init segment, the first time

	// A sample to place: its NAL units to write (length-prefixed, as
	// in MP4), straight from the input; data is copied once, into the
	// write buffer.
	type placed struct {
		nalus [][]byte
		size  int // bytes in mdat
		sync  bool
		ticks uint64
	}
	var out []placed
	dataSize := 0
	for _, s := range samples {
		nalus, err := splitNALUs(s.Data, MaxNALUnits)
		if err == nil {
			err = checkNALUs(nalus)
		}
		if err != nil {
			st.Invalid++
			continue
		}
		var spss, ppss [][]byte
		idr, vcl := false, false
		for _, n := range nalus {
			if len(n) == 0 {
				continue
			}
			switch t := avc.GetNaluType(n[0]); t {
			case avc.NALU_SPS:
				spss = append(spss, n)
			case avc.NALU_PPS:
				ppss = append(ppss, n)
			case avc.NALU_IDR:
				idr, vcl = true, true
			case avc.NALU_NON_IDR:
				vcl = true
			}
		}
		if !vcl {
			st.Dropped++
			continue
		}
		if !st.initialised() && head.Len() == 0 {
			if !idr || len(spss) == 0 || len(ppss) == 0 {
				st.Dropped++
				continue
			}
			parsed, err := avc.ParseSPSNALUnit(spss[0], false)
			if err != nil {
				st.Dropped++
				continue
			}
			init, err := initSegment(spss[0], ppss[0], s.Time)
			if err != nil {
				return err
			}
			if err := init.Encode(&head); err != nil {
				return fmt.Errorf("recording: encode init segment: %w", err)
			}
			st.SPS, st.PPS = bytes.Clone(spss[0]), bytes.Clone(ppss[0])
			st.Width, st.Height = int(parsed.Width), int(parsed.Height)
			st.Codec = avc.CodecString("avc1", parsed)
			st.Start = s.Time
		}
		// Parameter sets equal to the init segment's are left out of the
		// samples; different ones (a resolution change) stay in band, where
		// decoders pick them up.
		inband := false
		for _, n := range spss {
			inband = inband || !bytes.Equal(n, st.SPS)
		}
		for _, n := range ppss {
			inband = inband || !bytes.Equal(n, st.PPS)
		}
		if inband {
			st.InbandParams++
		}
		// AVCC: 4-byte lengths instead of start codes; delimiters and
		// filler go.
		kept := nalus[:0]
		size := 0
		for _, n := range nalus {
			if len(n) == 0 {
				continue
			}
			switch avc.GetNaluType(n[0]) {
			case avc.NALU_AUD, avc.NALU_FILL:
				continue
			case avc.NALU_SPS, avc.NALU_PPS:
				if !inband {
					continue
				}
			}
			kept = append(kept, n)
			size += 4 + len(n)
		}
		ticks := durationToTicks(s.Time.Sub(st.Start)) // 0 for the first sample
		if len(out) > 0 || st.Frames > 0 {
			prev := st.LastDecode
			if len(out) > 0 {
				prev = out[len(out)-1].ticks
			}
			if ticks <= prev {
				ticks = prev + 1
				st.ClampedTimes++
			}
		}
		out = append(out, placed{nalus: kept, size: size, sync: idr, ticks: ticks})
		dataSize += size
	}
	if len(out) == 0 && head.Len() == 0 {
		w.st.Dropped, w.st.Invalid = st.Dropped, st.Invalid
		return nil
	}
	prevLast, prevLastAt := st.LastDecode, st.LastDurationAt
	fragAt := -1
	bufp := writeBufs.Get().(*[]byte)
	defer putWriteBuf(bufp)
	buf := append((*bufp)[:0], head.Bytes()...)
	if len(out) > 0 {
		trun := w.trun[:0]
		for i, p := range out {
			var dur uint64
			switch {
			case i+1 < len(out):
				dur = out[i+1].ticks - p.ticks
			case i > 0:
				dur = p.ticks - out[i-1].ticks
			case st.LastDuration > 0:
				dur = uint64(st.LastDuration)
			default:
				dur = nominalDuration
			}
			dur = min(max(dur, 1), math.MaxUint32)
			flags := mp4.NonSyncSampleFlags | mp4.SampleDependsOn1
			if p.sync {
				flags = mp4.SyncSampleFlags
				st.Keyframes++
			}
			// The trun entry only: the data goes into the write buffer
			// below.
			trun = append(trun, trunEntry{dur: uint32(dur), size: uint32(p.size), flags: flags})
			st.LastDecode, st.LastDuration = p.ticks, uint32(dur)
			st.Frames++
		}
		w.trun = trun[:0]
		if dataSize+8 > math.MaxUint32 {
			return errors.New("recording: fragment over 4 GiB")
		}
		fragAt = len(buf)
		buf = appendMoof(buf, st.NextSeq, trackID, out[0].ticks, trun)
		st.LastDurationAt = w.st.Committed + int64(len(buf)-lastDurationFromEnd)
		st.NextSeq++
	}
	if fragAt >= 0 {
		buf = binary.BigEndian.AppendUint32(buf, uint32(8+dataSize))
		buf = append(buf, "mdat"...)
		for _, p := range out {
			for _, n := range p.nalus {
				buf = binary.BigEndian.AppendUint32(buf, uint32(len(n)))
				buf = append(buf, n...)
			}
		}
	}
	*bufp = buf
	// Stretch the previous fragment's last sample to this fragment's
	// first: its duration was a guess, and a hole between the two would
	// split a browser's buffered range. A crash before this write is
	// committed leaves either value in the file, both valid; the rewrite
	// after the restart patches again. With the previous fragment's tail
	// at hand, the patched tail and the new fragment go out in one write
	// (the tail's other bytes are rewritten unchanged); otherwise the
	// patch is a write of its own.
	patch := fragAt >= 0 && prevLastAt > 0 && prevLastAt+4 <= w.st.Committed && w.st.Frames > 0
	var dur [4]byte
	if patch {
		binary.BigEndian.PutUint32(dur[:], uint32(min(out[0].ticks-prevLast, math.MaxUint32)))
	}
	tailAt := w.st.Committed - int64(len(w.tail))
	if patch && w.tail != nil && tailAt == prevLastAt {
		combined := writeBufs.Get().(*[]byte)
		defer putWriteBuf(combined)
		b := append(append(append((*combined)[:0], dur[:]...), w.tail[4:]...), buf...)
		*combined = b
		if _, err := w.f.WriteAt(b, prevLastAt); err != nil {
			return w.rollback(fmt.Errorf("recording: write fragment: %w", err))
		}
	} else {
		if _, err := w.f.WriteAt(buf, w.st.Committed); err != nil {
			return w.rollback(fmt.Errorf("recording: write fragment: %w", err))
		}
		if patch {
			if _, err := w.f.WriteAt(dur[:], prevLastAt); err != nil {
				return w.rollback(fmt.Errorf("recording: stretch previous sample: %w", err))
			}
		}
	}
	st.Committed = w.st.Committed + int64(len(buf))
	keep := w.tail[:0]
	w.tail = nil
	if fragAt >= 0 { // (an init segment alone leaves no fragment at the end)
		if from := int(st.LastDurationAt - w.st.Committed); len(buf)-from <= maxTail {
			w.tail = append(keep, buf[from:]...)
		}
	}
	w.st = st
	return nil
}

// writeBufs holds the buffers Write lays a fragment out in, shared by
// every Writer of the process: a thousand sessions' video tracks need a
// few at a time, not one each.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// putWriteBuf returns a buffer to writeBufs unless a rare huge batch made
// it too large to keep.
func putWriteBuf(b *[]byte) {
	if cap(*b) <= 1<<20 {
		writeBufs.Put(b)
	}
}

// rollback truncates the file to the committed size after a failed write.
func (w *Writer) rollback(err error) error {
	w.tail = nil // the patch may or may not be on disk
	if terr := w.f.Truncate(w.st.Committed); terr != nil {
		w.broken = fmt.Errorf("%w; rollback failed: %v", err, terr)
	}
	return err
}

// initSegment builds ftyp+moov for one avc1 video track.
func initSegment(sps, pps []byte, start time.Time) (*mp4.InitSegment, error) {
	init := mp4.NewMP4Init()
	init.AddChild(mp4.NewFtyp("iso6", 0, []string{"iso6", "cmfc", "mp41"}))
	moov := mp4.NewMoovBox()
	init.AddChild(moov)
	mvhd := mp4.CreateMvhd()
	mvhd.Timescale = Timescale
	mvhd.CreationTime = mp4Time(start)
	mvhd.ModificationTime = mvhd.CreationTime
	moov.AddChild(mvhd)
	moov.AddChild(mp4.NewMvexBox())
	trak := init.AddEmptyTrack(Timescale, "video", "und")
	if err := trak.SetAVCDescriptor("avc1", [][]byte{sps}, [][]byte{pps}, true); err != nil {
		return nil, fmt.Errorf("recording: avc1 sample entry: %w", err)
	}
	return init, nil
}

// mp4Time is seconds since 1904-01-01 UTC.
func mp4Time(t time.Time) uint64 {
	const epochDelta = 2082844800 // 1904-01-01 to 1970-01-01
	if t.IsZero() || t.Unix() < -epochDelta {
		return 0
	}
	return uint64(t.Unix() + epochDelta)
}

func durationToTicks(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(math.Round(d.Seconds() * Timescale))
}

func ticksToDuration(t uint64) time.Duration {
	return time.Duration(float64(t) / Timescale * float64(time.Second))
}
