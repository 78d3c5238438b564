package transport

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// This file is the spool's on-disk format: segment files (a sealed header,
// then records), reading them back at open (indexing, resynchronising past
// damage, cutting a torn tail) and starting new segments. spool.go is the
// queue on top: append, ack, read, wait, status.

type segment struct {
	path     string
	first    uint64
	f        *os.File
	size     int64    // where the next record goes
	recs     []record // recs[i] holds seq first+i
	fileSize int64    // at open
	damaged  bool     // holds bytes that are neither records nor a torn tail
}

type record struct {
	off  int64 // of the record in the file
	size int32 // of the whole record; 0 for a hole with no bytes
	n    int32 // frame bytes
	bad  bool  // a hole: the message is missing or does not decrypt
}

const (
	segMagic       = "IVSPOOL1"
	segHeaderSize  = 8 + 8 + 12 + 32 + 16
	recHeaderSize  = 4 + 8 + 12
	segSuffix      = ".seg"
	spoolKeyLength = 32
)

func (s *Spool) load() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var firsts []uint64
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), segSuffix+".tmp") {
			// A segment whose creation a crash interrupted: it holds no records.
			removeFile(filepath.Join(s.dir, e.Name()))
			continue
		}
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok || e.IsDir() {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil || first == 0 {
			return fmt.Errorf("%w: unexpected file %s", ErrSpoolCorrupt, e.Name())
		}
		firsts = append(firsts, first)
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	if err := s.checkKey(firsts); err != nil {
		return err
	}
	synced := s.readState()
	for i, first := range firsts {
		head := i == len(firsts)-1
		seg, err := s.openSegment(first, head)
		if err != nil {
			return err
		}
		if seg == nil {
			continue // no usable header: moved aside, its records are holes
		}
		if len(s.segs) > 0 {
			prev := s.segs[len(s.segs)-1]
			end := prev.first + uint64(len(prev.recs))
			if first < end {
				// Overlapping segments: the later one wins.
				prev.recs = prev.recs[:first-prev.first]
			}
			s.addHoles(prev, first)
		}
		s.segs = append(s.segs, seg)
	}
	if len(s.segs) == 0 {
		// Nothing readable. If the state says messages existed, they are
		// lost (unless the backend has them: Repair finds out).
		if err := s.newSegment(synced + 1); err != nil {
			return err
		}
		s.nextSeq, s.acked = synced+1, synced
		s.digestKnown = synced == 0
		s.writeState(synced)
		return nil
	}
	head := s.segs[len(s.segs)-1]
	if err := s.cutTornTail(head, synced); err != nil {
		return err
	}
	s.nextSeq = head.first + uint64(len(head.recs))
	s.acked = s.segs[0].first - 1
	if s.digest, s.digestKnown = s.digestAt(s.nextSeq - 1); !s.digestKnown {
		s.digest = [32]byte{}
	}
	s.countUnacked()
	return nil
}

// checkKey refuses a spool none of whose segment headers opens with the key
// while some look like segment headers: the key is wrong, and the segments
// must not be taken for damage.
func (s *Spool) checkKey(firsts []uint64) error {
	sealed := 0
	for _, first := range firsts {
		hdr := make([]byte, segHeaderSize)
		f, err := os.Open(filepath.Join(s.dir, segName(first)))
		if err != nil {
			return err
		}
		_, err = io.ReadFull(f, hdr)
		f.Close()
		if err != nil || string(hdr[:8]) != segMagic || binary.BigEndian.Uint64(hdr[8:]) != first {
			continue
		}
		if _, err := s.aead.Open(nil, hdr[16:28], hdr[28:], hdr[8:16]); err == nil {
			return nil
		}
		sealed++
	}
	if sealed > 0 {
		return fmt.Errorf("%w: no segment header decrypts (wrong spool key?)", ErrSpoolCorrupt)
	}
	return nil
}

// addHoles extends seg's index with holes up to (not including) next.
func (s *Spool) addHoles(seg *segment, next uint64) {
	for seg.first+uint64(len(seg.recs)) < next {
		seg.recs = append(seg.recs, record{off: seg.size, bad: true})
		s.holes++
	}
}

// cutTornTail decides what the unreadable end of the head segment is. Only
// what was never synced may be a torn tail (a crash during an append, or a
// power cut before fsync): it is cut off without a word. Messages up to
// synced (the state file) that are gone are holes, reported by Repair.
func (s *Spool) cutTornTail(head *segment, synced uint64) error {
	good := len(head.recs)
	for good > 0 && head.recs[good-1].bad {
		good--
	}
	lastGood := head.first + uint64(good) - 1
	end := head.size
	if good < len(head.recs) {
		end = head.recs[good].off
	}
	if lastGood < synced {
		// Synced messages are missing or unreadable: holes, not a torn tail.
		keep := min(uint64(len(head.recs)), synced-head.first+1)
		head.recs = head.recs[:keep]
		s.addHoles(head, synced+1)
		if keep > uint64(good) && head.recs[keep-1].size > 0 {
			end = head.recs[keep-1].off + int64(head.recs[keep-1].size)
		}
	} else {
		if lastGood+1 < head.first+uint64(len(head.recs)) || end < head.size {
			s.tornFrom = lastGood + 1
		}
		for _, r := range head.recs[good:] {
			if r.bad {
				s.holes--
			}
		}
		head.recs = head.recs[:good]
	}
	interior := false
	for _, r := range head.recs[:min(good, len(head.recs))] {
		interior = interior || r.bad
	}
	if end < head.fileSize {
		if head.damaged && (lastGood < synced || interior) {
			if _, err := s.preserve(head.path); err != nil {
				return err
			}
		}
		if err := head.f.Truncate(end); err != nil {
			return err
		}
	}
	head.size = end
	return nil
}

// segName is the file name of the segment whose first record is first.
func segName(first uint64) string { return fmt.Sprintf("%020d%s", first, segSuffix) }

// openSegment reads a segment's header and indexes its records. For the
// head it also decrypts every record. Records that are unreadable become
// holes; a segment without a usable header is moved aside and nil returned.
func (s *Spool) openSegment(first uint64, head bool) (*segment, error) {
	path := filepath.Join(s.dir, segName(first))
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	hdr := b[:min(len(b), segHeaderSize)]
	ok := len(hdr) == segHeaderSize && string(hdr[:8]) == segMagic && binary.BigEndian.Uint64(hdr[8:]) == first
	if ok {
		if _, err := s.aead.Open(nil, hdr[16:28], hdr[28:], hdr[8:16]); err != nil {
			ok = false
		}
	}
	if !ok {
		// Keep the bytes for whoever investigates; the spool goes on without them.
		return nil, s.moveAside(path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	seg := &segment{path: path, first: first, f: f, fileSize: int64(len(b))}
	seg.recs, seg.size = s.scanRecords(b, first, head)
	for _, r := range seg.recs {
		if r.bad {
			s.holes++
			seg.damaged = true
		}
	}
	if seg.size < seg.fileSize {
		// Unplaceable bytes at the end. For the head, whether they are a torn
		// tail is cutTornTail's decision.
		seg.damaged = true
	}
	return seg, nil
}

// scanRecords indexes the records in a segment file's bytes b. A record
// whose header does not fit is skipped by searching for the next record that
// decrypts (resynchronising); the sequence numbers in between become holes.
// With open, every record is decrypted and one that fails is a hole. It
// returns the index and the offset after the last record it could place.
func (s *Spool) scanRecords(b []byte, first uint64, open bool) ([]record, int64) {
	var recs []record
	off := int64(segHeaderSize)
	size := int64(len(b))
	for off < size {
		q := first + uint64(len(recs))
		n, fits := s.recordFits(b, off, q)
		if fits {
			r := record{off: off, size: int32(recHeaderSize + n), n: int32(n) - int32(s.aead.Overhead())}
			if open && !s.opens(b, off, n) {
				r.bad = true
			}
			recs = append(recs, r)
			off += recHeaderSize + n
			continue
		}
		p, q2 := s.resync(b, off+1, q)
		if p < 0 {
			break
		}
		for ; q < q2; q++ {
			recs = append(recs, record{off: off, bad: true})
		}
		off = p
	}
	if off > size {
		off = size
	}
	return recs, off
}

// recordFits reports whether a whole record for seq q starts at off in b,
// and its sealed length.
func (s *Spool) recordFits(b []byte, off int64, q uint64) (int64, bool) {
	if off+recHeaderSize > int64(len(b)) {
		return 0, false
	}
	n := int64(binary.BigEndian.Uint32(b[off:]))
	seq := binary.BigEndian.Uint64(b[off+4:])
	if seq != q || n < int64(s.aead.Overhead()) || n > MaxFrameBytes+int64(s.aead.Overhead()) || off+recHeaderSize+n > int64(len(b)) {
		return n, false
	}
	return n, true
}

// opens reports whether the record at off (sealed length n) decrypts.
func (s *Spool) opens(b []byte, off, n int64) bool {
	rh := b[off : off+recHeaderSize]
	_, err := s.aead.Open(nil, rh[12:24], b[off+recHeaderSize:off+recHeaderSize+n], rh[4:12])
	return err == nil
}

// maxResyncSkip bounds how many sequence numbers a resynchronisation may
// skip.
const maxResyncSkip = 1 << 16

// resync finds the first offset at or after from where a record with a
// sequence number in (q, q+maxResyncSkip] starts and decrypts.
func (s *Spool) resync(b []byte, from int64, q uint64) (int64, uint64) {
	for p := from; p+recHeaderSize <= int64(len(b)); p++ {
		seq := binary.BigEndian.Uint64(b[p+4:])
		if seq <= q || seq > q+maxResyncSkip {
			continue
		}
		if n, fits := s.recordFits(b, p, seq); fits && s.opens(b, p, n) {
			return p, seq
		}
	}
	return -1, 0
}

// digestAt computes the chain digest through seq from the header of the
// segment holding it and the records before it. It is unknown (false) when
// a hole lies on the way or the data is gone.
func (s *Spool) digestAt(seq uint64) ([32]byte, bool) {
	var d [32]byte
	if len(s.segs) == 0 {
		return d, false
	}
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].first > seq+1 }) - 1
	if i < 0 {
		return d, false
	}
	seg := s.segs[i]
	hdr := make([]byte, segHeaderSize)
	if _, err := seg.f.ReadAt(hdr, 0); err != nil {
		return d, false
	}
	h, err := s.aead.Open(nil, hdr[16:28], hdr[28:], hdr[8:16])
	if err != nil {
		return d, false
	}
	copy(d[:], h)
	var buf []byte
	for q := seg.first; q <= seq; q++ {
		if q-seg.first >= uint64(len(seg.recs)) {
			return d, false
		}
		r := seg.recs[q-seg.first]
		if r.bad {
			return d, false
		}
		buf = grow(buf, int(r.size))
		if _, err := seg.f.ReadAt(buf, r.off); err != nil {
			return d, false
		}
		frame, err := s.aead.Open(buf[recHeaderSize:recHeaderSize], buf[12:24], buf[recHeaderSize:], buf[4:12])
		if err != nil {
			return d, false
		}
		d = Chain(d, frame)
	}
	return d, true
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// newSegment starts a head segment whose first record will be first. The
// header is written and synced to a temporary file that is closed and then
// renamed into place, so a segment file on disk always has a whole header
// (load deletes leftover temporary files). The file is reopened for appending
// after the rename: Windows refuses to rename a file that is open. The caller
// holds s.mu (or is load).
func (s *Spool) newSegment(first uint64) error {
	path := filepath.Join(s.dir, segName(first))
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return s.writeErr(err)
	}
	hdr := make([]byte, 0, segHeaderSize)
	hdr = append(hdr, segMagic...)
	hdr = binary.BigEndian.AppendUint64(hdr, first)
	nonce := randomBytes(12)
	hdr = append(hdr, nonce...)
	hdr = s.aead.Seal(hdr, nonce, s.digest[:], hdr[8:16])
	_, err = f.Write(hdr)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = renameFile(tmp, path)
	}
	if err != nil {
		removeFile(tmp)
		return s.writeErr(err)
	}
	syncDir(s.dir)
	if f, err = os.OpenFile(path, os.O_RDWR, 0o600); err != nil {
		// The segment is on disk with a whole header and no records; the
		// next open takes it as the (empty) head.
		return s.writeErr(err)
	}
	s.segs = append(s.segs, &segment{path: path, first: first, f: f, size: segHeaderSize})
	return nil
}

// renameFile and removeFile are variables so that tests can hold the spool to
// Windows' rule: no rename or delete of a file that is still open.
var (
	renameFile = os.Rename
	removeFile = os.Remove
)

// writeRecord is a variable so that tests can inject write faults.
var writeRecord = func(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) }
