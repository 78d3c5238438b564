package transport

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 123456000, time.UTC)
	tests := []struct {
		h       Header
		payload []byte
	}{
		{Header{Kind: KindMedia, Flags: FlagKeyframe, Track: TrackCamera, Seq: 1, Time: at}, []byte{0, 0, 0, 1, 0x67}},
		{Header{Kind: KindEvent, Track: TrackEvents, Seq: 1 << 40, Time: at}, []byte(`{"type":"focus.lost"}`)},
		{Header{Kind: KindData, Flags: FlagLastOfTrk, Track: TrackHeartbeat, Seq: 7, Time: time.UnixMicro(0)}, nil},
	}
	for _, tt := range tests {
		b := AppendFrame(nil, tt.h, tt.payload)
		if len(b) != HeaderSize+len(tt.payload) {
			t.Fatalf("len = %d", len(b))
		}
		h, p, err := DecodeFrame(b)
		if err != nil {
			t.Fatalf("DecodeFrame: %v", err)
		}
		if h.Kind != tt.h.Kind || h.Flags != tt.h.Flags || h.Track != tt.h.Track || h.Seq != tt.h.Seq || !h.Time.Equal(tt.h.Time) {
			t.Errorf("got %+v, want %+v", h, tt.h)
		}
		if !bytes.Equal(p, tt.payload) {
			t.Errorf("payload = %x, want %x", p, tt.payload)
		}
		if frameSeq(b) != tt.h.Seq {
			t.Errorf("frameSeq = %d", frameSeq(b))
		}
	}
}

func TestDecodeFrameRejects(t *testing.T) {
	good := AppendFrame(nil, Header{Kind: KindMedia, Track: TrackScreen, Seq: 3, Time: time.Now()}, []byte("x"))
	mut := func(i int, v byte) []byte { b := bytes.Clone(good); b[i] = v; return b }
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"short", good[:19], ErrBadFrame},
		{"version", mut(0, 2), ErrBadFrame},
		{"kind for track", mut(1, byte(KindEvent)), ErrBadFrame},
		{"unknown kind", mut(1, 9), ErrBadFrame},
		{"flags", mut(2, 0x80), ErrBadFrame},
		{"track", mut(3, 99), ErrBadFrame},
		{"seq zero", append(append(bytes.Clone(good[:4]), make([]byte, 8)...), good[12:]...), ErrBadFrame},
		{"too large", make([]byte, MaxFrameBytes+1), ErrFrameTooLarge},
	}
	for _, tt := range tests {
		if _, _, err := DecodeFrame(tt.b); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add(AppendFrame(nil, Header{Kind: KindMedia, Flags: FlagKeyframe, Track: TrackCamera, Seq: 1, Time: time.Now()}, []byte{0, 0, 1}))
	f.Add(AppendFrame(nil, Header{Kind: KindEvent, Track: TrackEvents, Seq: 99, Time: time.Now()}, []byte(`{"type":"x"}`)))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, p, err := DecodeFrame(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes.
		if got := AppendFrame(nil, h, p); !bytes.Equal(got, b) {
			t.Fatalf("re-encode differs:\n got %x\nwant %x", got, b)
		}
	})
}
