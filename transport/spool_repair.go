package transport

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// SpoolDamage is what a spool lost (messages that were spooled but can no
// longer be read: a flipped byte, a cut or deleted segment file) and what it
// renumbered to deliver the rest. Only a torn tail after a crash (the last
// records of the head segment, never synced) is dropped without a report.
type SpoolDamage struct {
	Lost       int    `json:"lost"`                   // messages lost for good
	LostFrom   uint64 `json:"lost_from,omitempty"`    // the first lost seq (original numbering)
	LostTo     uint64 `json:"lost_to,omitempty"`      // the last lost seq
	Renumbered int    `json:"renumbered"`             // readable messages re-sent under new seqs
	Aside      string `json:"preserved_in,omitempty"` // where the damaged files were moved
	Repairs    int    `json:"repairs"`                // how many times Repair cut the spool
}

// EventSpoolCorrupt is the type of the event a spool appends when it has
// lost messages; EventSpoolRenumbered when it only had to renumber
// (docs/protocol.md section 6).
const (
	EventSpoolCorrupt    = "spool.corrupt"
	EventSpoolRenumbered = "spool.renumbered"
)

// stateFileName holds the spool's durable high-water mark: every message up
// to it was fsynced. A record at or below it that is missing or unreadable is
// damage, not a torn tail.
const stateFileName = "spool.state"

const stateMagic = "IVSTATE1"

// readState returns the synced high-water mark, 0 if unknown.
func (s *Spool) readState() uint64 {
	b, err := os.ReadFile(filepath.Join(s.dir, stateFileName))
	if err != nil || len(b) != 8+8+8 || string(b[:8]) != stateMagic {
		return 0
	}
	sum := sha256.Sum256(b[:16])
	if binary.BigEndian.Uint64(sum[:]) != binary.BigEndian.Uint64(b[16:]) {
		return 0
	}
	return binary.BigEndian.Uint64(b[8:])
}

// writeState records that every message up to synced is on stable storage.
// It is written to a temporary file that is closed and renamed (no fsync:
// a state lost in a power cut only makes the next open more lenient, never
// claim more than was synced).
func (s *Spool) writeState(synced uint64) {
	b := make([]byte, 0, 24)
	b = append(b, stateMagic...)
	b = binary.BigEndian.AppendUint64(b, synced)
	sum := sha256.Sum256(b)
	b = append(b, sum[:8]...)
	path := filepath.Join(s.dir, stateFileName)
	if err := os.WriteFile(path+".tmp", b, 0o600); err == nil {
		renameFile(path+".tmp", path)
	}
}

// asideDir is where damaged spool files go: a sibling of the spool
// directory, so that a new session starts clean and nothing is deleted.
func (s *Spool) asideDir() (string, error) {
	if s.damage.Aside == "" {
		s.damage.Aside = filepath.Join(filepath.Dir(s.dir), filepath.Base(s.dir)+".damaged-"+s.opts.Now().UTC().Format("20060102T150405.000000000"))
	}
	return s.damage.Aside, os.MkdirAll(s.damage.Aside, 0o700)
}

// moveAside moves a (closed) spool file into the aside directory.
func (s *Spool) moveAside(path string) error {
	dir, err := s.asideDir()
	if err != nil {
		return fmt.Errorf("move damaged spool file aside: %w", err)
	}
	dst := filepath.Join(dir, filepath.Base(path))
	for i := 1; i < 1000; i++ {
		if _, err := os.Lstat(dst); err != nil {
			break
		}
		dst = filepath.Join(dir, fmt.Sprintf("%s.%d", filepath.Base(path), i))
	}
	if err := renameFile(path, dst); err != nil {
		return fmt.Errorf("move damaged spool file aside: %w", err)
	}
	return nil
}

// preserve copies a spool file into the aside directory before it is cut,
// and returns the copy's path. A file kept before gets a numbered copy.
func (s *Spool) preserve(path string) (string, error) {
	dir, err := s.asideDir()
	if err != nil {
		return "", fmt.Errorf("keep damaged spool file: %w", err)
	}
	in, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("keep damaged spool file: %w", err)
	}
	defer in.Close()
	dst := filepath.Join(dir, filepath.Base(path))
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	for i := 1; errors.Is(err, fs.ErrExist) && i < 1000; i++ {
		dst = filepath.Join(dir, fmt.Sprintf("%s.%d", filepath.Base(path), i))
		out, err = os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return "", fmt.Errorf("keep damaged spool file: %w", err)
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("keep damaged spool file: %w", err)
	}
	return dst, nil
}

// Repair makes the spool deliverable again after damage, given the last
// sequence number the backend has stored (the welcome's last_ack). When a
// message after lastAck is missing or unreadable, or the spool reused seqs
// the backend already has (a torn tail that had been sent), it cuts the
// spool there: the damaged files move aside (SpoolStatus.Damage.Aside), an
// event (EventSpoolCorrupt, or EventSpoolRenumbered when nothing was lost)
// takes the first free seq and names what was lost, and every message that
// is still readable follows it under new sequence numbers, with its track,
// flags and capture time unchanged. It returns nil when there was nothing to
// repair.
func (s *Spool) Repair(lastAck uint64) (*SpoolDamage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSpoolClosed
	}
	torn := s.tornFrom
	s.tornFrom = 0 // the first welcome settles it
	cut, restart := uint64(0), uint64(0)
	switch {
	case lastAck < s.acked:
		// The oldest segments are gone but the backend never had them.
		cut, restart = lastAck+1, lastAck+1
	case torn > 0 && lastAck >= torn:
		if torn < s.nextSeq {
			// A torn tail that had been sent: the backend holds
			// torn..lastAck as they were, and this spool has reused those
			// seqs for new messages.
			cut, restart = torn, lastAck+1
		}
	case lastAck >= s.nextSeq && s.nUnacked > 0:
		// The backend has more than this spool ever numbered (the spool was
		// replaced): what it has not sent would be taken for duplicates.
		cut, restart = s.acked+1, lastAck+1
	}
	if s.holes > 0 {
		if h := s.firstHole(max(lastAck, s.acked) + 1); h > 0 && (cut == 0 || h < cut) {
			cut, restart = h, h
		}
	}
	if cut == 0 || cut > s.nextSeq {
		return nil, nil
	}
	if restart > s.nextSeq && cut == restart {
		return nil, nil
	}

	// What follows the cut: readable messages to renumber, and holes.
	type move struct {
		seg *segment
		rec record
		seq uint64
	}
	var moves []move
	lost := 0
	var lostFrom, lostTo uint64
	lose := func(q uint64) {
		lost++
		if lostFrom == 0 || q < lostFrom {
			lostFrom = q
		}
		lostTo = max(lostTo, q)
	}
	for q := cut; q <= s.acked; q++ {
		lose(q) // gone with a deleted segment
	}
	for _, seg := range s.segs {
		for i, r := range seg.recs {
			q := seg.first + uint64(i)
			if q < cut {
				continue
			}
			if r.bad {
				if q > lastAck {
					lose(q)
				}
				continue
			}
			moves = append(moves, move{seg, r, q})
		}
	}
	// Check every survivor decrypts before anything is moved.
	var buf []byte
	readable := moves[:0]
	for _, m := range moves {
		buf = grow(buf, int(m.rec.size))
		if _, err := m.seg.f.ReadAt(buf, m.rec.off); err != nil {
			lose(m.seq)
			continue
		}
		if _, err := s.aead.Open(nil, buf[12:24], buf[recHeaderSize:], buf[4:12]); err != nil {
			lose(m.seq)
			continue
		}
		readable = append(readable, m)
	}
	moves = readable

	// Move the damaged part aside: whole segments from the cut on, and a copy
	// of the one the cut falls in, which is then truncated.
	digest, known := s.digestAt(cut - 1)
	if restart != cut {
		digest, known = [32]byte{}, false
	}
	oldPaths := map[*segment]string{}
	var keep []*segment
	for _, seg := range s.segs {
		end := seg.first + uint64(len(seg.recs))
		switch {
		case end <= cut:
			keep = append(keep, seg)
		case seg.first >= cut:
			seg.f.Close()
			if err := s.moveAside(seg.path); err != nil {
				return nil, s.fail(err)
			}
			oldPaths[seg] = filepath.Join(s.damage.Aside, filepath.Base(seg.path))
		default:
			kept, err := s.preserve(seg.path)
			if err != nil {
				return nil, s.fail(err)
			}
			oldPaths[seg] = kept
			off := seg.recs[cut-seg.first].off
			if err := seg.f.Truncate(off); err != nil {
				return nil, s.fail(s.writeErr(err))
			}
			seg.recs = seg.recs[:cut-seg.first]
			seg.size = off
			keep = append(keep, seg)
		}
	}
	// Survivors are read back from their files in the aside directory.
	files := map[*segment]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for seg, p := range oldPaths {
		f, err := os.Open(p)
		if err != nil {
			return nil, s.fail(fmt.Errorf("repair spool: %w", err))
		}
		files[seg] = f
	}

	s.segs = keep
	if restart != cut {
		// Everything kept is at or below lastAck: the backend has it.
		for _, seg := range s.segs {
			seg.f.Close()
			removeFile(seg.path)
		}
		s.segs = nil
	}
	s.digest, s.digestKnown = digest, known
	s.acked = min(s.acked, restart-1)
	if restart != cut {
		s.acked = restart - 1
	}
	if len(s.segs) == 0 || s.segs[len(s.segs)-1].first+uint64(len(s.segs[len(s.segs)-1].recs)) != restart {
		for _, seg := range s.segs {
			seg.f.Close()
			removeFile(seg.path)
		}
		s.segs = nil
		if err := s.newSegment(restart); err != nil {
			return nil, s.fail(err)
		}
	}
	s.nextSeq = restart
	s.holes = 0
	for _, seg := range s.segs {
		for _, r := range seg.recs {
			if r.bad {
				s.holes++
			}
		}
	}
	s.countUnacked()

	typ := EventSpoolRenumbered
	if lost > 0 {
		typ = EventSpoolCorrupt
	}
	ev := map[string]any{"type": typ, "lost": lost, "renumbered": len(moves), "renumbered_from": restart + 1}
	if lost > 0 {
		ev["lost_from"], ev["lost_to"] = lostFrom, lostTo
	}
	if len(moves) > 0 {
		ev["original_from"], ev["original_to"] = moves[0].seq, moves[len(moves)-1].seq
	}
	body, _ := json.Marshal(ev)
	if _, err := s.appendLocked(Message{Kind: KindEvent, Track: TrackEvents, Time: s.opts.Now(), Payload: body}, true); err != nil {
		return nil, err
	}
	for _, m := range moves {
		buf = grow(buf, int(m.rec.size))
		f := files[m.seg]
		_, err := f.ReadAt(buf, m.rec.off)
		var frame []byte
		if err == nil {
			frame, err = s.aead.Open(buf[recHeaderSize:recHeaderSize], buf[12:24], buf[recHeaderSize:], buf[4:12])
		}
		var h Header
		var payload []byte
		if err == nil {
			h, payload, err = DecodeFrame(frame)
		}
		if err != nil {
			lose(m.seq) // changed under us; counted, the event was already written
			continue
		}
		if _, err := s.appendLocked(Message{Kind: h.Kind, Flags: h.Flags, Track: h.Track, Time: h.Time, Payload: payload}, true); err != nil {
			return nil, err
		}
	}
	if err := s.syncLocked(); err != nil {
		return nil, s.fail(err)
	}
	s.damage.Lost += lost
	if lost > 0 {
		if s.damage.LostFrom == 0 || lostFrom < s.damage.LostFrom {
			s.damage.LostFrom = lostFrom
		}
		s.damage.LostTo = max(s.damage.LostTo, lostTo)
	}
	s.damage.Renumbered += len(moves)
	s.damage.Repairs++
	d := s.damage
	s.signal()
	return &d, nil
}

// markSynced records that everything appended is on stable storage.
func (s *Spool) markSynced() {
	s.synced, s.syncedDigest = s.nextSeq-1, s.digestHex()
}

// firstHole is the first unreadable seq at or after from, 0 if none.
func (s *Spool) firstHole(from uint64) uint64 {
	for _, seg := range s.segs {
		for i, r := range seg.recs {
			if q := seg.first + uint64(i); q >= from && r.bad {
				return q
			}
		}
	}
	return 0
}

// digestHex is the digest for SpoolStatus: empty when unknown.
func (s *Spool) digestHex() string {
	if !s.digestKnown {
		return ""
	}
	return hex.EncodeToString(s.digest[:])
}

// errSpoolDamaged is returned by the client's writer when it found a
// message it cannot read; the connection is served again after Repair.
var errSpoolDamaged = errors.New("spool damaged")
