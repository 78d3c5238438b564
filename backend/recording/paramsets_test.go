package recording

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/avc"
)

// bitWriter builds RBSP bits for test parameter sets.
type bitWriter struct{ bits []byte }

func (w *bitWriter) u(v uint64, n int) *bitWriter {
	for i := n - 1; i >= 0; i-- {
		w.bits = append(w.bits, byte(v>>uint(i))&1)
	}
	return w
}

func (w *bitWriter) ue(v uint64) *bitWriter {
	v++
	n := 0
	for x := v; x > 1; x >>= 1 {
		n++
	}
	return w.u(0, n).u(v, n+1)
}

func (w *bitWriter) se(v int64) *bitWriter {
	if v > 0 {
		return w.ue(uint64(2*v - 1))
	}
	return w.ue(uint64(-2 * v))
}

// nal ends the RBSP (stop bit), escapes it and returns the NAL unit.
func (w *bitWriter) nal() []byte {
	w.u(1, 1)
	for len(w.bits)%8 != 0 {
		w.bits = append(w.bits, 0)
	}
	rbsp := make([]byte, len(w.bits)/8)
	for i, b := range w.bits {
		rbsp[i/8] |= b << (7 - uint(i%8))
	}
	var out []byte
	zeros := 0
	for i, b := range rbsp {
		if i > 0 && zeros >= 2 && b <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// spsFields are the fields of a test SPS; sps() writes them.
type spsFields struct {
	profile, level  uint64
	chroma          uint64 // high profiles
	scaling         []int64
	pocType         uint64
	cycle           []int64 // pic_order_cnt_type 1
	cycleLen        uint64  // written count; defaults to len(cycle)
	refFrames       uint64
	wMbs, hMapUnits uint64
	frameMbsOnly    bool
	crop            [4]uint64
	cropping        bool
	vui             bool
	aspectIDC       uint64
}

func (f spsFields) sps() []byte {
	w := &bitWriter{}
	w.u(0x67, 8).u(f.profile, 8).u(0, 8).u(f.level, 8).ue(0)
	if highProfile(uint(f.profile)) {
		w.ue(f.chroma)
		if f.chroma == 3 {
			w.u(0, 1) // separate_colour_plane_flag
		}
		w.ue(0).ue(0).u(0, 1)
		if f.scaling != nil {
			w.u(1, 1).u(1, 1) // matrix present; list 0 present
			for _, d := range f.scaling {
				w.se(d)
			}
			for range 7 {
				w.u(0, 1)
			}
		} else {
			w.u(0, 1)
		}
	}
	w.ue(0).ue(f.pocType)
	switch f.pocType {
	case 0:
		w.ue(0)
	case 1:
		n := f.cycleLen
		if n == 0 {
			n = uint64(len(f.cycle))
		}
		w.u(0, 1).se(0).se(0).ue(n)
		for _, o := range f.cycle {
			w.se(o)
		}
	}
	w.ue(f.refFrames).u(0, 1).ue(f.wMbs - 1).ue(f.hMapUnits - 1)
	if f.frameMbsOnly {
		w.u(1, 1)
	} else {
		w.u(0, 1).u(0, 1)
	}
	w.u(1, 1)
	if f.cropping {
		w.u(1, 1).ue(f.crop[0]).ue(f.crop[1]).ue(f.crop[2]).ue(f.crop[3])
	} else {
		w.u(0, 1)
	}
	if f.vui {
		w.u(1, 1).u(1, 1).u(f.aspectIDC, 8)
		if f.aspectIDC == 255 {
			w.u(1, 16).u(1, 16)
		}
		w.u(0, 1) // overscan_info_present_flag: the rest is not read
	} else {
		w.u(0, 1)
	}
	return w.nal()
}

func base() spsFields {
	return spsFields{profile: 66, level: 31, refFrames: 1, wMbs: 40, hMapUnits: 30, frameMbsOnly: true}
}

// openh264SPS is the SPS of a 16×16 stream from openh264.
var openh264SPS = []byte{0x67, 0x42, 0xc0, 0x0d, 0x8c, 0x8d, 0x4e, 0x40, 0x3c, 0x22, 0x11, 0xa8}

// hostileSPS is issue 12's SPS: num_ref_frames_in_pic_order_cnt_cycle of
// 2^29 + 254, which mp4ff v0.51.0 allocates ([]uint, 4 GiB) and fills.
var hostileSPS = []byte{0x67, 0x42, 0xc0, 0x1f, 0xd7, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x1f, 0xf0}

func TestValidateSPS(t *testing.T) {
	mod := func(f func(*spsFields)) []byte {
		s := base()
		f(&s)
		return s.sps()
	}
	tests := []struct {
		name string
		nal  []byte
		want string // "" accepted; else a part of the error
	}{
		{"openh264", openh264SPS, ""},
		{"built baseline", base().sps(), ""},
		{"high with scaling list", mod(func(s *spsFields) {
			s.profile, s.chroma, s.scaling = 100, 1, []int64{5, -3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		}), ""},
		{"high, scaling list ended by a zero", mod(func(s *spsFields) { s.profile, s.chroma, s.scaling = 100, 1, []int64{-8} }), ""},
		// chroma_format_idc 3 under profile 122 (the parser's crop
		// arithmetic; High 4:4:4 itself, 244, is refused below).
		{"4:4:4 cropped", mod(func(s *spsFields) { s.profile, s.chroma, s.cropping, s.crop = 122, 3, true, [4]uint64{1, 1, 1, 1} }), ""},
		{"High 4:4:4 profile", mod(func(s *spsFields) { s.profile, s.chroma = 244, 3 }), "the recorder stores"},
		{"CAVLC 4:4:4 profile", mod(func(s *spsFields) { s.profile = 44 }), "the recorder stores"},
		{"interlaced", mod(func(s *spsFields) { s.frameMbsOnly = false; s.hMapUnits = 15 }), ""},
		{"poc type 1, 255 offsets", mod(func(s *spsFields) { s.pocType, s.cycle = 1, make([]int64, 255) }), ""},
		{"extended SAR", mod(func(s *spsFields) { s.vui, s.aspectIDC = true, 255 }), ""},
		{"8K", mod(func(s *spsFields) { s.level, s.wMbs, s.hMapUnits = 62, 512, 270 }), ""},

		{"issue 12", hostileSPS, "num_ref_frames_in_pic_order_cnt_cycle"},
		{"256 offsets", mod(func(s *spsFields) { s.pocType, s.cycle = 1, make([]int64, 256) }), "num_ref_frames_in_pic_order_cnt_cycle 256"},
		{"cycle count without offsets", mod(func(s *spsFields) { s.pocType, s.cycleLen = 1, 200 }), "truncated"},
		{"offset out of range", mod(func(s *spsFields) { s.pocType, s.cycle = 1, []int64{1 << 31} }), "longer than 32 bits"},
		{"too wide", mod(func(s *spsFields) { s.wMbs = 4096 }), "pic_width_in_mbs_minus1"},
		{"too many macroblocks", mod(func(s *spsFields) { s.wMbs, s.hMapUnits = 1000, 1000 }), "macroblocks"},
		{"interlaced too tall", mod(func(s *spsFields) { s.frameMbsOnly, s.hMapUnits = false, 600 }), "macroblocks"},
		{"crop everything", mod(func(s *spsFields) { s.cropping, s.crop = true, [4]uint64{320, 0, 0, 0} }), "cropping"},
		{"too many ref frames", mod(func(s *spsFields) { s.refFrames = 17 }), "max_num_ref_frames"},
		{"poc type 3", mod(func(s *spsFields) { s.pocType = 3 }), "pic_order_cnt_type"},
		{"chroma 4", mod(func(s *spsFields) { s.profile, s.chroma = 100, 4 }), "chroma_format_idc"},
		{"scaling delta", mod(func(s *spsFields) { s.profile, s.chroma, s.scaling = 100, 1, []int64{200} }), "delta_scale"},
		{"unknown profile", mod(func(s *spsFields) { s.profile = 7 }), "profile_idc"},
		{"unknown level", mod(func(s *spsFields) { s.level = 99 }), "level_idc"},
		{"reserved aspect", mod(func(s *spsFields) { s.vui, s.aspectIDC = true, 100 }), "aspect_ratio_idc"},
		{"truncated", openh264SPS[:6], "truncated"},
		{"header only", []byte{0x67, 0x42, 0xc0}, "SPS of 3 bytes"},
		{"a PPS", []byte{0x68, 0x42, 0xc0, 0x1f, 0xff}, "not an SPS"},
		{"forbidden bit", []byte{0xe7, 0x42, 0xc0, 0x1f, 0xff}, "not an SPS"},
		{"ue of 33 bits", []byte{0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 0, 0, 0, 0x80}, "longer than 32 bits"},
		{"too long", append(bytes.Clone(openh264SPS), make([]byte, MaxSPSBytes)...), "limit 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateSPS(tt.nal)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateSPS(% x) = %v, want nil", tt.nal, err)
				}
				// What we accept, mp4ff parses, to sizes within bounds.
				sps, err := avc.ParseSPSNALUnit(tt.nal, false)
				if err != nil {
					t.Fatalf("mp4ff refuses an SPS we accept: %v", err)
				}
				if sps.Width == 0 || sps.Width > MaxSideMBs*16 || sps.Height == 0 || sps.Height > MaxSideMBs*16 {
					t.Errorf("mp4ff size %d×%d", sps.Width, sps.Height)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ValidateSPS = %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

func TestValidatePPS(t *testing.T) {
	tests := []struct {
		nal  []byte
		want string
	}{
		{[]byte{0x68, 0xce, 0x3c, 0x80}, ""}, // openh264's
		{(&bitWriter{}).u(0x68, 8).ue(255).ue(31).u(1, 1).u(0, 1).ue(7).nal(), ""},
		{(&bitWriter{}).u(0x68, 8).ue(256).ue(0).u(0, 1).u(0, 1).ue(0).nal(), "pic_parameter_set_id"},
		{(&bitWriter{}).u(0x68, 8).ue(0).ue(32).u(0, 1).u(0, 1).ue(0).nal(), "seq_parameter_set_id"},
		{(&bitWriter{}).u(0x68, 8).ue(0).ue(0).u(0, 1).u(0, 1).ue(8).nal(), "num_slice_groups_minus1"},
		{[]byte{0x68}, "PPS of 1 bytes"},
		{[]byte{0x68, 0x00}, "truncated"},
		{[]byte{0x67, 0xce}, "not a PPS"},
		{append([]byte{0x68, 0xce, 0x3c, 0x80}, make([]byte, MaxPPSBytes)...), "limit 4096"},
	}
	for _, tt := range tests {
		err := ValidatePPS(tt.nal)
		if tt.want == "" && err != nil || tt.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("ValidatePPS(% x) = %v, want %q", tt.nal, err, tt.want)
		}
	}
}

func annexB(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	return b
}

var (
	openh264PPS = []byte{0x68, 0xce, 0x3c, 0x80}
	idrSlice    = []byte{0x65, 0xb8, 0x00, 0x04, 0x00, 0x00, 0x09, 0xff, 0x79, 0x48, 0x5a, 0x4e}
)

func TestCheckAccessUnit(t *testing.T) {
	tests := []struct {
		name string
		au   []byte
		want string
	}{
		{"keyframe", annexB(openh264SPS, openh264PPS, idrSlice), ""},
		{"no start code", []byte("junk"), ""},
		{"empty", nil, ""},
		{"hostile SPS", annexB(hostileSPS, openh264PPS, idrSlice), "num_ref_frames_in_pic_order_cnt_cycle"},
		{"bad PPS", annexB(openh264SPS, []byte{0x68}, idrSlice), "PPS"},
		{"forbidden bit", annexB([]byte{0x85, 1, 2}), "forbidden_zero_bit"},
		{"at the NAL limit", bytes.Repeat([]byte{0, 0, 1, 0x09}, MaxNALUnits), ""},
		{"over the NAL limit", bytes.Repeat([]byte{0, 0, 1, 0x09}, MaxNALUnits+1), "more than 1024 NAL units"},
		{"empty units over the limit", bytes.Repeat([]byte{0, 0, 1}, MaxNALUnits+2), "more than 1024 NAL units"},
	}
	for _, tt := range tests {
		err := CheckAccessUnit(tt.au)
		if tt.want == "" && err != nil || tt.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: CheckAccessUnit = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestOpenH264StreamsPass: what the client's encoder makes at common sizes
// passes the checks.
func TestOpenH264StreamsPass(t *testing.T) {
	for _, size := range [][2]int{{96, 64}, {640, 480}, {1280, 720}} {
		frames := encodeScene(t, size[0], size[1], time.Second/5, time.Unix(0, 0))
		for i, f := range frames {
			if err := CheckAccessUnit(f.Data); err != nil {
				t.Errorf("%dx%d frame %d: %v", size[0], size[1], i, err)
			}
		}
	}
}

// TestWriterRefusesHostileSPS feeds issue 12's access unit to the writer
// directly. Before the check, Write reached mp4ff's ParseSPSNALUnit and
// allocated 4 GiB; now it allocates kilobytes and counts the sample as
// invalid, and the next valid keyframe starts the file.
func TestWriterRefusesHostileSPS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.mp4")
	w, err := Open(path, State{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := w.Write([]Sample{{Data: annexB(hostileSPS, openh264PPS, idrSlice), Time: time.Unix(100, 0)}}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("one hostile sample allocated %d KiB", d>>10)
	}
	if err := w.Write([]Sample{{Data: annexB(openh264SPS, openh264PPS, idrSlice), Time: time.Unix(101, 0)}}); err != nil {
		t.Fatal(err)
	}
	st := w.State()
	if st.Invalid != 1 || st.Frames != 1 || st.Committed == 0 {
		t.Errorf("state %+v: want 1 invalid, 1 frame", st)
	}
	// A state whose SPS is hostile (a tampered store) is refused at Open.
	bad := st
	bad.SPS = hostileSPS
	if _, err := Open(path, bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open with a hostile state SPS: %v", err)
	}
}

func TestSplitNALUs(t *testing.T) {
	in := []byte{9, 9, 0, 0, 1, 0x67, 1, 0, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0x65, 0, 0, 1}
	got, err := splitNALUs(in, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := avc.ExtractNalusFromByteStream(in)
	if len(got) != len(want) {
		t.Fatalf("got %d units % x, mp4ff %d % x", len(got), got, len(want), want)
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("unit %d: % x, mp4ff % x", i, got[i], want[i])
		}
	}
	if _, err := splitNALUs(in, 2); !errors.Is(err, ErrInvalid) {
		t.Errorf("over the limit: %v", err)
	}
}

// FuzzSplitNALUs: our split is mp4ff's (below the limit) and never copies.
func FuzzSplitNALUs(f *testing.F) {
	f.Add(annexB(openh264SPS, openh264PPS, idrSlice))
	f.Add([]byte{0, 0, 1, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := splitNALUs(b, 64)
		want := avc.ExtractNalusFromByteStream(b)
		if err != nil {
			if len(want) <= 64 {
				t.Fatalf("refused %d units: %v", len(want), err)
			}
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%d units, mp4ff %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("unit %d: % x, mp4ff % x", i, got[i], want[i])
			}
		}
	})
}

// FuzzValidateSPS: whatever ValidateSPS accepts, mp4ff parses without
// panicking and to a size within the bounds.
func FuzzValidateSPS(f *testing.F) {
	f.Add(openh264SPS)
	f.Add(hostileSPS)
	f.Add(spsFields{profile: 100, level: 40, chroma: 1, scaling: make([]int64, 16), refFrames: 4, wMbs: 120, hMapUnits: 68, frameMbsOnly: true, cropping: true, crop: [4]uint64{0, 0, 0, 4}, vui: true, aspectIDC: 1}.sps())
	f.Add(spsFields{profile: 77, level: 30, pocType: 1, cycle: []int64{3, -2, 7}, refFrames: 2, wMbs: 22, hMapUnits: 9, vui: true, aspectIDC: 255}.sps())
	f.Fuzz(func(t *testing.T, nal []byte) {
		if ValidateSPS(nal) != nil {
			return
		}
		sps, err := avc.ParseSPSNALUnit(nal, false)
		if err != nil {
			return // mp4ff may be stricter (it is not the check)
		}
		if len(sps.RefFramesInPicOrderCntCycle) > 255 || sps.Width > MaxSideMBs*16 || sps.Height > MaxSideMBs*16*2 {
			t.Fatalf("accepted an SPS mp4ff reads as %d×%d, %d offsets", sps.Width, sps.Height, len(sps.RefFramesInPicOrderCntCycle))
		}
	})
}

// FuzzWriter drives the writer with fuzzed access units, parameter sets
// included: it never panics, never errs on client bytes, and its committed
// size is the file's.
func FuzzWriter(f *testing.F) {
	key := annexB(openh264SPS, openh264PPS, idrSlice)
	f.Add(key, []byte{0x41, 0x9a, 0x02}, uint8(3))
	f.Add(annexB(hostileSPS, openh264PPS, idrSlice), []byte{0x41}, uint8(1))
	f.Add(annexB(base().sps(), openh264PPS, idrSlice), annexB(openh264SPS, []byte{0x68, 0xee, 0x3c, 0x80}, idrSlice), uint8(2))
	f.Add(annexB(spsFields{profile: 100, level: 40, chroma: 1, scaling: []int64{-8}, refFrames: 1, wMbs: 10, hMapUnits: 8, frameMbsOnly: true}.sps(), openh264PPS, idrSlice), key, uint8(2))
	path := filepath.Join(f.TempDir(), "fuzz.mp4")
	f.Fuzz(func(t *testing.T, first, next []byte, n uint8) {
		w, err := Open(path, State{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		at := time.Unix(1_700_000_000, 0)
		samples := []Sample{{Data: first, Time: at}}
		for i := range int(n % 8) {
			d := next
			if i%3 == 2 {
				d = first
			}
			samples = append(samples, Sample{Data: d, Time: at.Add(time.Duration(i+1) * time.Second / 15)})
		}
		if err := w.Write(samples); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if err := w.Write(samples[len(samples)/2:]); err != nil {
			t.Fatalf("second Write: %v", err)
		}
		st := w.State()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != st.Committed {
			t.Fatalf("file %d bytes, committed %d", fi.Size(), st.Committed)
		}
		if st.Committed > 0 {
			if _, err := Probe(path); err != nil {
				t.Fatalf("Probe of what Write wrote: %v", err)
			}
			w2, err := Open(path, st)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			w2.Close()
		}
	})
}

// BenchmarkCheckAccessUnit: the cost of the checks per message, for
// issue 12's access unit, a valid keyframe and a 4 MiB flood of start codes.
func BenchmarkCheckAccessUnit(b *testing.B) {
	for _, bc := range []struct {
		name string
		au   []byte
	}{
		{"issue12", annexB(hostileSPS, openh264PPS, idrSlice)},
		{"keyframe", annexB(openh264SPS, openh264PPS, idrSlice)},
		{"flood4MiB", bytes.Repeat([]byte{0, 0, 1}, 4<<20/3)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				CheckAccessUnit(bc.au)
			}
		})
	}
}
