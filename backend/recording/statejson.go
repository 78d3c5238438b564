package recording

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
)

// AppendState appends the writer's State as JSON to b: the same bytes as
// json.Marshal(w.State()), without reflection or a copy of the parameter
// sets. The backend stores it with every batch.
func (w *Writer) AppendState(b []byte) ([]byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st.appendJSON(b)
}

// appendJSON is json.Marshal(s) appended to b, and fails where it does (a
// start time outside RFC 3339). A codec string that needs escaping goes
// through json.Marshal.
func (s *State) appendJSON(b []byte) ([]byte, error) {
	if !plainJSON(s.Codec) {
		j, err := json.Marshal(s)
		return append(b, j...), err
	}
	b = strconv.AppendInt(append(b, `{"committed":`...), s.Committed, 10)
	b = strconv.AppendUint(append(b, `,"next_seq":`...), uint64(s.NextSeq), 10)
	if !s.Start.IsZero() {
		var err error
		if b, err = s.Start.AppendText(append(b, `,"start":"`...)); err != nil { // RFC 3339, as MarshalJSON
			return b, err
		}
		b = append(b, '"')
	}
	b = strconv.AppendUint(append(b, `,"last_decode":`...), s.LastDecode, 10)
	b = strconv.AppendUint(append(b, `,"last_duration":`...), uint64(s.LastDuration), 10)
	if s.LastDurationAt != 0 {
		b = strconv.AppendInt(append(b, `,"last_duration_at":`...), s.LastDurationAt, 10)
	}
	if len(s.SPS) > 0 {
		b = base64.StdEncoding.AppendEncode(append(b, `,"sps":"`...), s.SPS)
		b = append(b, '"')
	}
	if len(s.PPS) > 0 {
		b = base64.StdEncoding.AppendEncode(append(b, `,"pps":"`...), s.PPS)
		b = append(b, '"')
	}
	if s.Width != 0 {
		b = strconv.AppendInt(append(b, `,"width":`...), int64(s.Width), 10)
	}
	if s.Height != 0 {
		b = strconv.AppendInt(append(b, `,"height":`...), int64(s.Height), 10)
	}
	if s.Codec != "" {
		b = append(append(append(b, `,"codec":"`...), s.Codec...), '"')
	}
	b = strconv.AppendInt(append(b, `,"frames":`...), s.Frames, 10)
	b = strconv.AppendInt(append(b, `,"keyframes":`...), s.Keyframes, 10)
	b = strconv.AppendInt(append(b, `,"dropped":`...), s.Dropped, 10)
	b = strconv.AppendInt(append(b, `,"invalid":`...), s.Invalid, 10)
	b = strconv.AppendInt(append(b, `,"inband_params":`...), s.InbandParams, 10)
	b = strconv.AppendInt(append(b, `,"clamped_times":`...), s.ClampedTimes, 10)
	return append(b, '}'), nil
}

// plainJSON reports whether s needs no escaping in a JSON string.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
