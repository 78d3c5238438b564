package capture

// H.264 NAL unit types this package looks at.
const (
	naluIDR = 5
	naluSPS = 7
	naluPPS = 8
)

// naluTypes returns the nal_unit_type of every NAL unit in an Annex-B
// buffer (3- or 4-byte start codes).
func naluTypes(b []byte) []byte {
	var types []byte
	for i := 0; i+3 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			types = append(types, b[i+3]&0x1f)
			i += 3
		}
	}
	return types
}

// isIDR reports whether an Annex-B access unit holds an IDR slice.
func isIDR(b []byte) bool {
	for _, t := range naluTypes(b) {
		if t == naluIDR {
			return true
		}
	}
	return false
}
