package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Protocol constants of wire protocol v1 (docs/protocol.md).
const (
	ProtocolVersion = 1
	Subprotocol     = "invigil.v1"

	HeaderSize      = 20
	MaxFrameBytes   = 4 << 20  // a binary frame, header included
	MaxControlBytes = 64 << 10 // a text (JSON) frame
)

// Kind says how the backend stores a data message's payload.
type Kind uint8

// Kinds of data messages.
const (
	KindMedia Kind = 1 // one encoded access unit (H.264 Annex-B)
	KindEvent Kind = 2 // a JSON object with a "type"
	KindStill Kind = 3 // one JPEG image
	KindData  Kind = 4 // opaque bytes
)

func (k Kind) String() string {
	switch k {
	case KindMedia:
		return "media"
	case KindEvent:
		return "event"
	case KindStill:
		return "still"
	case KindData:
		return "data"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Track numbers of protocol v1.
const (
	TrackEvents    uint8 = 0
	TrackHeartbeat uint8 = 1
	TrackCamera    uint8 = 2
	TrackScreen    uint8 = 3
	TrackStills    uint8 = 4
)

// TrackName is the name of a v1 track, for file names and listings.
func TrackName(track uint8) string {
	switch track {
	case TrackEvents:
		return "events"
	case TrackHeartbeat:
		return "heartbeat"
	case TrackCamera:
		return "camera"
	case TrackScreen:
		return "screen"
	case TrackStills:
		return "stills"
	}
	return fmt.Sprintf("track%d", track)
}

// TrackKind is the only kind a v1 track may carry.
func TrackKind(track uint8) (Kind, bool) {
	switch track {
	case TrackEvents:
		return KindEvent, true
	case TrackHeartbeat:
		return KindData, true
	case TrackCamera, TrackScreen:
		return KindMedia, true
	case TrackStills:
		return KindStill, true
	}
	return 0, false
}

// Flags of a data message.
type Flags uint8

// Flag bits.
const (
	FlagKeyframe  Flags = 1 << 0
	FlagLastOfTrk Flags = 1 << 1
	knownFlags          = FlagKeyframe | FlagLastOfTrk
)

// Header is the fixed 20-byte header of a data message.
type Header struct {
	Kind  Kind
	Flags Flags
	Track uint8
	Seq   uint64
	Time  time.Time // capture time, microsecond precision on the wire
}

// Message is a data message before it has a sequence number: what producers
// append to the Spool (Spool.Append).
type Message struct {
	Kind    Kind
	Flags   Flags
	Track   uint8
	Time    time.Time
	Payload []byte
}

// Errors of frame decoding. Decoding errors wrap ErrBadFrame.
var (
	ErrBadFrame      = errors.New("bad frame")
	ErrFrameTooLarge = errors.New("frame too large")
)

// AppendFrame appends the wire form of h and payload to dst.
func AppendFrame(dst []byte, h Header, payload []byte) []byte {
	var hdr [HeaderSize]byte
	hdr[0] = ProtocolVersion
	hdr[1] = byte(h.Kind)
	hdr[2] = byte(h.Flags)
	hdr[3] = h.Track
	binary.BigEndian.PutUint64(hdr[4:], h.Seq)
	binary.BigEndian.PutUint64(hdr[12:], uint64(h.Time.UnixMicro()))
	dst = append(dst, hdr[:]...)
	return append(dst, payload...)
}

// DecodeFrame parses a binary frame. The payload aliases b. It checks
// everything a receiver must refuse: size, version, kind, flags, the track's
// kind and a zero sequence number.
func DecodeFrame(b []byte) (Header, []byte, error) {
	if len(b) > MaxFrameBytes {
		return Header{}, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(b), MaxFrameBytes)
	}
	if len(b) < HeaderSize {
		return Header{}, nil, fmt.Errorf("%w: %d bytes, shorter than the header", ErrBadFrame, len(b))
	}
	if b[0] != ProtocolVersion {
		return Header{}, nil, fmt.Errorf("%w: version %d", ErrBadFrame, b[0])
	}
	h := Header{
		Kind:  Kind(b[1]),
		Flags: Flags(b[2]),
		Track: b[3],
		Seq:   binary.BigEndian.Uint64(b[4:]),
		Time:  time.UnixMicro(int64(binary.BigEndian.Uint64(b[12:]))),
	}
	if h.Flags&^knownFlags != 0 {
		return Header{}, nil, fmt.Errorf("%w: unknown flags %#x", ErrBadFrame, uint8(h.Flags))
	}
	want, ok := TrackKind(h.Track)
	if !ok {
		return Header{}, nil, fmt.Errorf("%w: unknown track %d", ErrBadFrame, h.Track)
	}
	if h.Kind != want {
		return Header{}, nil, fmt.Errorf("%w: %s message on track %s", ErrBadFrame, h.Kind, TrackName(h.Track))
	}
	if h.Seq == 0 {
		return Header{}, nil, fmt.Errorf("%w: sequence number 0", ErrBadFrame)
	}
	return h, b[HeaderSize:], nil
}

// frameSeq reads the sequence number of an encoded frame without validating
// it; callers use it on frames they encoded themselves.
func frameSeq(frame []byte) uint64 { return binary.BigEndian.Uint64(frame[4:]) }
