package recording

import (
	"bytes"
	"errors"
	"fmt"
)

// Bounds on what a client may send in one access unit. They are checked
// before any parser (ours beyond this file, or mp4ff's) sees the bytes:
// mp4ff's avc.ParseSPSNALUnit sizes a slice from a field of the SPS
// (num_ref_frames_in_pic_order_cnt_cycle) without a bound, so one SPS of a
// few dozen bytes could make it allocate and fill gigabytes.
const (
	// MaxNALUnits is the most NAL units one access unit may hold. An
	// encoder writes a handful (AUD, SPS, PPS, SEI, a few slices); a
	// picture split into the most slices any level allows in practice
	// stays far below it.
	MaxNALUnits = 1024
	// MaxSPSBytes and MaxPPSBytes bound a parameter set's NAL unit. The
	// largest SPS the syntax allows with every field at its spec limit
	// (12 scaling lists, 255 picture-order offsets, two full HRDs) is a
	// little over 4 KiB; real ones are 10–40 bytes. A PPS with the
	// explicit slice-group map of FMO (Baseline/Extended only, which no
	// real-time encoder uses) could be larger and is refused; the avcC
	// box stores a parameter set's length in 16 bits anyway.
	MaxSPSBytes = 4096
	MaxPPSBytes = 4096
	// MaxFrameMBs is the largest picture of any H.264 level (6.x:
	// 139,264 macroblocks, 8192×4320), and MaxSideMBs the longest side
	// it allows (sqrt(8 × MaxFrameMBs)).
	MaxFrameMBs = 139264
	MaxSideMBs  = 1055
)

// ErrInvalid is the error of bytes that break the bounds above or the
// H.264 syntax of a parameter set. Errors of CheckAccessUnit, ValidateSPS
// and ValidatePPS wrap it.
var ErrInvalid = errors.New("invalid H.264")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// NAL unit types of the parameter sets (ITU-T H.264 table 7-1).
const (
	nalSPS = 7
	nalPPS = 8
)

// splitNALUs splits an Annex-B byte stream into its NAL units, as slices of
// b (nothing is copied), and fails with ErrInvalid beyond max units. The
// split is mp4ff's avc.ExtractNalusFromByteStream's (a fuzz test checks
// that they agree): units start after a 00 00 01 start code, trailing zero
// bytes (the leading zero of a 4-byte start code) are cut except a unit's
// first byte, bytes before the first start code are ignored and a start
// code in the last three bytes is not one.
func splitNALUs(b []byte, max int) ([][]byte, error) {
	var out [][]byte
	start := -1
	n := len(b)
	for i := 0; i+3 < n; {
		// A start code ends before the last byte (bytes.Index is
		// vectorised: the backend splits every frame it stores).
		j := bytes.Index(b[i:n-1], startCode)
		if j < 0 {
			break
		}
		i += j
		if start > 0 {
			end := i
			for end > start+1 && b[end-1] == 0 {
				end--
			}
			if len(out) == max {
				return nil, invalid("more than %d NAL units in one access unit", max)
			}
			out = append(out, b[start:end:end])
		}
		start = i + 3
		i += 3
	}
	if start < 0 {
		return nil, nil
	}
	if len(out) == max {
		return nil, invalid("more than %d NAL units in one access unit", max)
	}
	return append(out, b[start:n:n]), nil
}

var startCode = []byte{0, 0, 1}

// CheckAccessUnit checks one client access unit (Annex-B) against the
// bounds above: at most MaxNALUnits NAL units, no forbidden_zero_bit, and
// every SPS and PPS valid (ValidateSPS, ValidatePPS). It reads each byte a
// constant number of times and allocates only the list of units. A nil
// error does not mean the slices decode: only that every parser the backend
// runs on the unit is safe.
func CheckAccessUnit(b []byte) error {
	nalus, err := splitNALUs(b, MaxNALUnits)
	if err != nil {
		return err
	}
	return checkNALUs(nalus)
}

func checkNALUs(nalus [][]byte) error {
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		if n[0]&0x80 != 0 {
			return invalid("NAL unit with forbidden_zero_bit set")
		}
		switch n[0] & 0x1f {
		case nalSPS:
			if err := ValidateSPS(n); err != nil {
				return err
			}
		case nalPPS:
			if err := ValidatePPS(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// rbsp reads bits of a NAL unit's payload with emulation prevention bytes
// removed. Every read is bounded: exp-Golomb codes longer than 32 bits are
// an error, as is reading past the end.
type rbsp struct {
	b     []byte // the escaped payload (after the NAL header)
	pos   int    // next byte of b
	zeros int    // zero bytes just read, for the 00 00 03 escape
	cur   byte
	left  uint // bits of cur not yet read
	err   error
}

func newRBSP(payload []byte) *rbsp { return &rbsp{b: payload} }

func (r *rbsp) fail(format string, args ...any) {
	if r.err == nil {
		r.err = invalid(format, args...)
	}
}

func (r *rbsp) bit() uint {
	if r.err != nil {
		return 0
	}
	if r.left == 0 {
		if r.zeros >= 2 && r.pos < len(r.b) && r.b[r.pos] == 3 {
			r.pos++ // emulation_prevention_three_byte
			r.zeros = 0
		}
		if r.pos >= len(r.b) {
			r.fail("parameter set truncated")
			return 0
		}
		r.cur = r.b[r.pos]
		r.pos++
		if r.cur == 0 {
			r.zeros++
		} else {
			r.zeros = 0
		}
		r.left = 8
	}
	r.left--
	return uint(r.cur>>r.left) & 1
}

func (r *rbsp) bits(n int) uint {
	var v uint
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

func (r *rbsp) flag() bool { return r.bit() == 1 }

// ue reads an unsigned exp-Golomb code of at most 32 bits of value.
func (r *rbsp) ue() uint {
	zeros := 0
	for r.bit() == 0 {
		if r.err != nil {
			return 0
		}
		zeros++
		if zeros > 31 {
			r.fail("exp-Golomb code longer than 32 bits")
			return 0
		}
	}
	return (1<<zeros - 1) + r.bits(zeros)
}

// se reads a signed exp-Golomb code.
func (r *rbsp) se() int64 {
	k := int64(r.ue())
	if k%2 == 1 {
		return (k + 1) / 2
	}
	return -k / 2
}

// ueMax reads ue(v) and checks it against the spec's maximum.
func (r *rbsp) ueMax(field string, max uint) uint {
	v := r.ue()
	if r.err == nil && v > max {
		r.fail("%s %d over its limit %d", field, v, max)
	}
	return v
}

// seRange reads se(v) and checks it is within [lo, hi].
func (r *rbsp) seRange(field string, lo, hi int64) int64 {
	v := r.se()
	if r.err == nil && (v < lo || v > hi) {
		r.fail("%s %d outside [%d, %d]", field, v, lo, hi)
	}
	return v
}

// Profiles whose SPS carries chroma_format_idc and the rest of the high
// profile fields (H.264 7.3.2.1.1).
func highProfile(p uint) bool {
	switch p {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

func knownProfile(p uint) bool { return p == 66 || p == 77 || p == 88 || highProfile(p) }

// storableProfile: the profiles whose avcC mp4ff writes and reads back
// alike (ISO/IEC 14496-15 5.3.3.1.2 lists the trailing chroma and bit-depth
// fields for 100, 110, 122 and 144 only; for the other high profiles mp4ff
// counts those 4 bytes in the box size but does not write them, and its
// own reader then fails: found by FuzzWriter). Clients send Baseline,
// Main or High (openh264).
func storableProfile(p uint) bool {
	switch p {
	case 66, 77, 88, 100, 110, 122:
		return true
	}
	return false
}

// knownLevel: level_idc values of H.264 table A-1 (11 with constraint_set3
// is level 1b; 9 is 1b in the high profiles).
func knownLevel(l uint) bool {
	switch l {
	case 9, 10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52, 60, 61, 62:
		return true
	}
	return false
}

// ValidateSPS checks an SPS NAL unit (header byte included) against the
// syntax and value ranges of H.264 7.3.2.1.1 and 7.4.2.1.1, up to and
// including the VUI's aspect ratio (what mp4ff's ParseSPSNALUnit reads with
// parseVUIBeyondAspectRatio false; the rest of the VUI is carried, not
// parsed). It bounds everything mp4ff would size or loop by:
// num_ref_frames_in_pic_order_cnt_cycle ≤ 255, the picture at most
// MaxFrameMBs macroblocks (no side over MaxSideMBs), cropping inside the
// picture, and the NAL unit at most MaxSPSBytes.
func ValidateSPS(nal []byte) error {
	if len(nal) > MaxSPSBytes {
		return invalid("SPS of %d bytes (limit %d)", len(nal), MaxSPSBytes)
	}
	if len(nal) < 4 {
		return invalid("SPS of %d bytes", len(nal))
	}
	if nal[0]&0x80 != 0 || nal[0]&0x1f != nalSPS {
		return invalid("not an SPS NAL unit (header %#02x)", nal[0])
	}
	profile, level := uint(nal[1]), uint(nal[3])
	if !knownProfile(profile) {
		return invalid("SPS profile_idc %d", profile)
	}
	if !storableProfile(profile) {
		return invalid("SPS profile_idc %d: the recorder stores Baseline, Main, Extended, High, High 10 and High 4:2:2", profile)
	}
	if !knownLevel(level) {
		return invalid("SPS level_idc %d", level)
	}
	r := newRBSP(nal[4:])
	r.ueMax("seq_parameter_set_id", 31)
	chroma := uint(1)
	if highProfile(profile) {
		chroma = r.ueMax("chroma_format_idc", 3)
		if chroma == 3 {
			r.flag() // separate_colour_plane_flag
		}
		r.ueMax("bit_depth_luma_minus8", 6)
		r.ueMax("bit_depth_chroma_minus8", 6)
		r.flag()      // qpprime_y_zero_transform_bypass_flag
		if r.flag() { // seq_scaling_matrix_present_flag
			lists := 8
			if chroma == 3 {
				lists = 12
			}
			for i := range lists {
				if !r.flag() {
					continue
				}
				size := 16
				if i >= 6 {
					size = 64
				}
				last, next := int64(8), int64(8)
				for range size {
					if next != 0 {
						delta := r.seRange("delta_scale", -128, 127)
						next = (last + delta + 256) % 256
					}
					if next != 0 {
						last = next
					}
					if r.err != nil {
						return r.err
					}
				}
			}
		}
	}
	r.ueMax("log2_max_frame_num_minus4", 12)
	switch r.ueMax("pic_order_cnt_type", 2) {
	case 0:
		r.ueMax("log2_max_pic_order_cnt_lsb_minus4", 12)
	case 1:
		const lim = 1<<31 - 1
		r.flag() // delta_pic_order_always_zero_flag
		r.seRange("offset_for_non_ref_pic", -lim, lim)
		r.seRange("offset_for_top_to_bottom_field", -lim, lim)
		n := r.ueMax("num_ref_frames_in_pic_order_cnt_cycle", 255)
		for i := uint(0); i < n && r.err == nil; i++ {
			r.seRange("offset_for_ref_frame", -lim, lim)
		}
	}
	r.ueMax("max_num_ref_frames", 16)
	r.flag() // gaps_in_frame_num_value_allowed_flag
	w := r.ueMax("pic_width_in_mbs_minus1", MaxSideMBs-1) + 1
	mapUnits := r.ueMax("pic_height_in_map_units_minus1", MaxSideMBs-1) + 1
	frameMbsOnly := r.flag()
	h := mapUnits
	if !frameMbsOnly {
		h *= 2
		r.flag() // mb_adaptive_frame_field_flag
	}
	if r.err != nil {
		return r.err
	}
	if h > MaxSideMBs || w*h > MaxFrameMBs {
		return invalid("SPS picture of %d×%d macroblocks (limits %d a side, %d in all)", w, h, MaxSideMBs, MaxFrameMBs)
	}
	r.flag()      // direct_8x8_inference_flag
	if r.flag() { // frame_cropping_flag
		// Crop units (7.4.2.1.1, table 6-1): in luma samples.
		cx, cy := uint(2), uint(2)
		switch {
		case chroma == 0:
			cx, cy = 1, 1
		case chroma == 2:
			cy = 1
		case chroma == 3:
			cx, cy = 1, 1
		}
		if !frameMbsOnly {
			cy *= 2
		}
		left := r.ueMax("frame_crop_left_offset", MaxSideMBs*16)
		right := r.ueMax("frame_crop_right_offset", MaxSideMBs*16)
		top := r.ueMax("frame_crop_top_offset", MaxSideMBs*16)
		bottom := r.ueMax("frame_crop_bottom_offset", MaxSideMBs*16)
		if r.err != nil {
			return r.err
		}
		if cx*(left+right) >= 16*w || cy*(top+bottom) >= 16*h {
			return invalid("SPS cropping leaves no picture")
		}
	}
	if r.flag() { // vui_parameters_present_flag
		if r.flag() { // aspect_ratio_info_present_flag
			idc := r.bits(8)
			switch {
			case idc == 255: // Extended_SAR
				r.bits(32)
			case idc > 16:
				r.fail("SPS aspect_ratio_idc %d", idc)
			}
		}
	}
	return r.err
}

// ValidatePPS checks the start of a PPS NAL unit (header byte included)
// against H.264 7.3.2.2: its ids in range and at most 8 slice groups, and
// the NAL unit at most MaxPPSBytes. The backend never parses a PPS beyond
// that; it carries it into the recording.
func ValidatePPS(nal []byte) error {
	if len(nal) > MaxPPSBytes {
		return invalid("PPS of %d bytes (limit %d)", len(nal), MaxPPSBytes)
	}
	if len(nal) < 2 {
		return invalid("PPS of %d bytes", len(nal))
	}
	if nal[0]&0x80 != 0 || nal[0]&0x1f != nalPPS {
		return invalid("not a PPS NAL unit (header %#02x)", nal[0])
	}
	r := newRBSP(nal[1:])
	r.ueMax("pic_parameter_set_id", 255)
	r.ueMax("seq_parameter_set_id", 31)
	r.flag() // entropy_coding_mode_flag
	r.flag() // bottom_field_pic_order_in_frame_present_flag
	r.ueMax("num_slice_groups_minus1", 7)
	return r.err
}
