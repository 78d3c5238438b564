package backend

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/invigil/invigil/backend/recording"
	"github.com/invigil/invigil/transport"
)

// A trackWriter appends one track's frames to its file. The ingest calls
// Write then Sync, then stores State in the same SQLite transaction as the
// session's progress; on the next connection the writer is reopened from that
// State, which cuts whatever a crash left beyond it. That is what makes
// "stored exactly once" hold across backend crashes.
type trackWriter interface {
	Write(frames []transport.Frame) error
	Sync() error
	State() ([]byte, error)
	Close() error
}

// rawTrack stores frames whole (header and payload) in a simple record file:
// the magic, then u32 length | frame, repeated. It keeps tracks that are not
// video (heartbeat, stills) and everything needed to verify them.
type rawTrack struct {
	f   *os.File
	off int64
	buf []byte
}

const rawMagic = "IVREC1\n\x00"

type rawState struct {
	Offset int64 `json:"offset"`
}

func openRawTrack(path string, state []byte) (*rawTrack, error) {
	var st rawState
	if len(state) > 0 {
		if err := json.Unmarshal(state, &st); err != nil {
			return nil, fmt.Errorf("raw track state: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil { // an older file keeps its mode
		f.Close()
		return nil, err
	}
	t := &rawTrack{f: f, off: st.Offset}
	if st.Offset == 0 {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, err
		}
		if _, err := f.WriteAt([]byte(rawMagic), 0); err != nil {
			f.Close()
			return nil, err
		}
		t.off = int64(len(rawMagic))
		return t, nil
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.Size() < st.Offset {
		f.Close()
		return nil, fmt.Errorf("track file %s is shorter (%d) than its committed size (%d)", path, fi.Size(), st.Offset)
	}
	// Cut what a crash wrote after the last commit: it is not acked, and the
	// client sends it again.
	if err := f.Truncate(st.Offset); err != nil {
		f.Close()
		return nil, err
	}
	return t, nil
}

// writeChunkBytes bounds what a track writer copies for one write: a
// batch is written in pieces of about this size (budget.go).
const writeChunkBytes = 4 << 20

func (t *rawTrack) Write(frames []transport.Frame) error {
	flush := func() error {
		n, err := t.f.WriteAt(t.buf, t.off)
		t.off += int64(n)
		t.buf = t.buf[:0]
		return err
	}
	t.buf = t.buf[:0]
	for _, fr := range frames {
		if len(t.buf) > 0 && len(t.buf)+4+len(fr.Raw) > writeChunkBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		t.buf = binary.BigEndian.AppendUint32(t.buf, uint32(len(fr.Raw)))
		t.buf = append(t.buf, fr.Raw...)
	}
	if len(t.buf) == 0 {
		return nil
	}
	return flush()
}

func (t *rawTrack) Sync() error { return t.f.Sync() }

// State is json.Marshal(rawState{Offset: t.off}), without reflection: it
// is stored with every batch.
func (t *rawTrack) State() ([]byte, error) {
	return append(strconv.AppendInt([]byte(`{"offset":`), t.off, 10), '}'), nil
}

func (t *rawTrack) Close() error { return t.f.Close() }

// ReadRawTrack returns the frames of a raw track file in order. A short
// record at the end (a write in progress, or a crash's leftover that the
// next connection will cut) ends the list without an error.
func ReadRawTrack(path string) ([]transport.Frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readRawRecords(f, path, false)
}

// readRawRecords reads raw track records from r (named path in errors).
// A record cut short ends the list: without an error unless committed (the
// file's end may be a write in progress), as an error otherwise (a
// committed prefix must be whole).
func readRawRecords(rd io.Reader, path string, committed bool) ([]transport.Frame, error) {
	r := bufio.NewReader(rd)
	magic := make([]byte, len(rawMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != rawMagic {
		return nil, fmt.Errorf("%s is not a raw track file", path)
	}
	var out []transport.Frame
	var lb [4]byte
	for {
		if _, err := io.ReadFull(r, lb[:]); err != nil {
			return out, nil
		}
		n := binary.BigEndian.Uint32(lb[:])
		if n > transport.MaxFrameBytes {
			return out, fmt.Errorf("%s: record of %d bytes", path, n)
		}
		raw := make([]byte, n)
		if _, err := io.ReadFull(r, raw); err != nil {
			if !committed && errors.Is(err, io.ErrUnexpectedEOF) {
				return out, nil
			}
			return out, fmt.Errorf("%s: record cut short: %w", path, err)
		}
		h, p, err := transport.DecodeFrame(raw)
		if err != nil {
			return out, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, transport.Frame{Header: h, Payload: p, Raw: raw})
	}
}

// mp4Track records a video track (H.264 access units) as fragmented MP4,
// one fragment per stored batch: playable in a browser and ffmpeg while the
// exam is still going.
type mp4Track struct {
	w       *recording.Writer
	samples []recording.Sample
}

func openMP4Track(path string, state []byte) (*mp4Track, error) {
	var st recording.State
	if len(state) > 0 {
		if err := json.Unmarshal(state, &st); err != nil {
			return nil, fmt.Errorf("recording state: %w", err)
		}
	}
	w, err := recording.Open(path, st)
	if err != nil {
		return nil, err
	}
	return &mp4Track{w: w}, nil
}

// Write writes frames as one fragment per writeChunkBytes of payload, so
// the writer's copy of a batch stays bounded.
func (t *mp4Track) Write(frames []transport.Frame) error {
	t.samples = t.samples[:0]
	size := 0
	for _, f := range frames {
		if len(t.samples) > 0 && size+len(f.Payload) > writeChunkBytes {
			if err := t.w.Write(t.samples); err != nil {
				return err
			}
			t.samples, size = t.samples[:0], 0
		}
		t.samples = append(t.samples, recording.Sample{Data: f.Payload, Keyframe: f.Flags&transport.FlagKeyframe != 0, Time: f.Time})
		size += len(f.Payload)
	}
	if len(t.samples) == 0 {
		return nil
	}
	return t.w.Write(t.samples)
}

func (t *mp4Track) Sync() error { return t.w.Sync() }

func (t *mp4Track) State() ([]byte, error) { return t.w.AppendState(nil) }

func (t *mp4Track) Close() error { return t.w.Close() }
