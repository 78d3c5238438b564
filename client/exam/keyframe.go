package exam

import "github.com/invigil/invigil/transport"

// ForceKeyframe answers the backend's keyframe command (docs/protocol.md
// §2.5): the next frame of the named track ("camera" or "screen") is
// encoded as an IDR, so that a proctor who just opened the live view sees a
// picture at once. It reports whether that track is being captured.
func (m *Media) ForceKeyframe(track string) bool {
	var s interface{ ForceKeyframe() }
	switch track {
	case transport.TrackName(transport.TrackCamera):
		if m.cam != nil {
			s = m.cam
		}
	case transport.TrackName(transport.TrackScreen):
		if m.scr != nil {
			s = m.scr
		}
	}
	if s == nil {
		return false
	}
	s.ForceKeyframe()
	return true
}

// ForceKeyframe answers the keyframe command for the exam's media
// (Media.ForceKeyframe).
func (e *Exam) ForceKeyframe(track string) bool { return e.media.ForceKeyframe(track) }
