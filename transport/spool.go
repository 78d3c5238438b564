package transport

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// A Spool is the client's encrypted, on-disk queue of data messages: every
// message is appended here before it is sent, and deleted only once the
// backend has acknowledged it. It survives a client crash: reopening the
// directory with the same key gives back every unacknowledged message, and the
// sequence numbers and digest carry on.
//
// On disk, a spool is a directory of segment files named by the first
// sequence number they hold (00000000000000000001.seg). A segment starts with
// a header (magic, first seq, the sealed digest of all earlier messages) and
// holds records: u32 sealed length | u64 seq | 12-byte nonce | AES-256-GCM of
// the frame, with the seq as additional data. Nonces are random, so a seq
// rewritten after a crash never reuses a nonce.
//
// Durability: every Append is one write(2) into the page cache, which survives
// the process being killed; fsync runs at most every SyncInterval and at each
// segment change, which bounds what a power cut can take.
//
// A Spool is safe for concurrent use.
type Spool struct {
	dir    string
	aead   cipher.AEAD
	opts   SpoolOptions
	unlock func() error

	mu       sync.Mutex
	segs     []*segment // ordered by first seq; the last is the head
	nextSeq  uint64
	acked    uint64
	unacked  int64 // frame bytes with seq > acked
	nUnacked int
	digest   [32]byte // chain over frames 1..nextSeq-1
	// digestKnown is false when the chain passes a message this spool
	// cannot read (a hole, or one the backend has but the spool lost).
	digestKnown bool
	holes       int // unreadable messages in the index (see Repair)
	// synced is the last seq known to be on stable storage, and the chain
	// through it: what a checkpoint may vouch for (a power cut cannot take
	// it back).
	synced       uint64
	syncedDigest string
	tornFrom     uint64 // first seq cut off as a torn tail at open, 0 if none
	damage       SpoolDamage
	lastSync     time.Time
	dirty        bool
	failed       error         // sticky write failure
	wake         chan struct{} // closed and replaced when something changes
	closed       bool
	buf          []byte
}

// SpoolOptions tunes a Spool. The zero value gives the defaults.
type SpoolOptions struct {
	// MaxBytes caps the frame bytes not yet acknowledged; Append beyond it
	// fails with ErrSpoolFull. Default 2 GiB (about 20 hours of camera and
	// screen at the default bitrates).
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file starts. Default 8 MiB.
	SegmentBytes int64
	// SyncInterval bounds how long an appended message may sit in the page
	// cache before fsync. Default 1 s; negative syncs on every Append.
	SyncInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o *SpoolOptions) fill() {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 2 << 30
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 8 << 20
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Spool errors a caller branches on.
var (
	// ErrSpoolFull: the spool reached MaxBytes of unacknowledged data.
	// Capture must stop; nothing already spooled is lost.
	ErrSpoolFull = errors.New("spool full: too much data waiting for the backend")
	// ErrDiskFull: the disk holding the spool has no space left.
	ErrDiskFull = errors.New("disk full: cannot spool more data")
	// ErrSpoolCorrupt: the spool's files do not fit together (not a torn
	// tail, which is repaired silently).
	ErrSpoolCorrupt = errors.New("spool corrupt")
	// ErrSpoolDamaged: messages were lost from the spool (damaged or
	// deleted files); SpoolStatus.Damage says which. The session goes on.
	ErrSpoolDamaged = errors.New("part of the recording was lost from the local spool")
	// ErrSpoolLocked: another process has the spool open.
	ErrSpoolLocked = errors.New("spool in use by another invigil process")
	// ErrSpoolClosed: the spool was closed.
	ErrSpoolClosed = errors.New("spool closed")
)

// OpenSpool opens (creating it if needed) the spool in dir with the 32-byte
// AES key. A spool that is new starts at sequence number 1.
func OpenSpool(dir string, key []byte, opts SpoolOptions) (*Spool, error) {
	opts.fill()
	if len(key) != spoolKeyLength {
		return nil, fmt.Errorf("open spool: key has %d bytes, want %d", len(key), spoolKeyLength)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", dir, err)
	}
	s := &Spool{dir: dir, aead: aead, opts: opts, unlock: unlock, wake: make(chan struct{}), nextSeq: 1}
	if err := s.load(); err != nil {
		s.closeFiles()
		unlock()
		return nil, fmt.Errorf("open spool %s: %w", dir, err)
	}
	s.lastSync = opts.Now()
	if err := s.segs[len(s.segs)-1].f.Sync(); err == nil {
		s.markSynced()
	}
	return s, nil
}

// countUnacked recomputes the counters of messages after s.acked.
func (s *Spool) countUnacked() {
	s.unacked, s.nUnacked = 0, 0
	for _, seg := range s.segs {
		for i, r := range seg.recs {
			if seg.first+uint64(i) > s.acked {
				s.unacked += int64(r.n)
				s.nUnacked++
			}
		}
	}
}

// writeErr classifies a write failure.
func (s *Spool) writeErr(err error) error {
	if isDiskFull(err) {
		return fmt.Errorf("%w (%s): %w", ErrDiskFull, s.dir, err)
	}
	return fmt.Errorf("spool write: %w", err)
}

// Append assigns m the next sequence number, writes it to the spool and
// returns the sequence number and the encoded frame's size. After a write
// failure every later Append fails with the same error: the caller stops
// capturing and tells the user, and everything spooled before is intact.
func (s *Spool) Append(m Message) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrSpoolClosed
	}
	if s.failed != nil {
		return 0, s.failed
	}
	return s.appendLocked(m, false)
}

// appendLocked is Append with s.mu held. force skips the size cap (Repair
// re-appends what was spooled already).
func (s *Spool) appendLocked(m Message, force bool) (uint64, error) {
	if HeaderSize+len(m.Payload) > MaxFrameBytes {
		return 0, fmt.Errorf("%w: %d-byte payload", ErrFrameTooLarge, len(m.Payload))
	}
	seq := s.nextSeq
	frameLen := HeaderSize + len(m.Payload)
	if !force && s.unacked+int64(frameLen) > s.opts.MaxBytes {
		return 0, fmt.Errorf("%w (%d MiB waiting)", ErrSpoolFull, s.unacked>>20)
	}
	head := s.segs[len(s.segs)-1]
	recLen := int64(recHeaderSize + frameLen + s.aead.Overhead())
	if len(head.recs) > 0 && head.size+recLen > s.opts.SegmentBytes {
		if err := head.f.Sync(); err != nil {
			return 0, s.fail(s.writeErr(err))
		}
		if err := s.newSegment(seq); err != nil {
			return 0, s.fail(err)
		}
		head = s.segs[len(s.segs)-1]
		s.writeState(seq - 1)
		s.markSynced()
	}

	// Build frame and record in one buffer: record header, then the frame
	// sealed in place after it.
	buf := grow(s.buf, int(recLen))[:recHeaderSize]
	binary.BigEndian.PutUint32(buf, uint32(frameLen+s.aead.Overhead()))
	binary.BigEndian.PutUint64(buf[4:], seq)
	nonce := randomBytes(12)
	copy(buf[12:], nonce)
	frame := AppendFrame(buf[recHeaderSize:recHeaderSize], Header{Kind: m.Kind, Flags: m.Flags, Track: m.Track, Seq: seq, Time: m.Time}, m.Payload)
	digest := Chain(s.digest, frame)
	rec := s.aead.Seal(buf[:recHeaderSize], nonce, frame, buf[4:12])
	s.buf = rec

	_, err := writeRecord(head.f, rec, head.size)
	now := s.opts.Now()
	syncNow := err == nil && (s.opts.SyncInterval < 0 || now.Sub(s.lastSync) >= s.opts.SyncInterval)
	if syncNow {
		err = head.f.Sync()
	}
	if err != nil {
		// Leave no torn record behind: cut back to the last good one.
		head.f.Truncate(head.size)
		return 0, s.fail(s.writeErr(err))
	}
	head.recs = append(head.recs, record{off: head.size, size: int32(len(rec)), n: int32(frameLen)})
	head.size += int64(len(rec))
	s.nextSeq++
	s.digest = digest
	s.unacked += int64(frameLen)
	s.nUnacked++
	s.dirty = !syncNow
	if syncNow {
		s.lastSync = now
		s.writeState(seq)
		s.markSynced()
	}
	s.signal()
	return seq, nil
}

func (s *Spool) fail(err error) error {
	s.failed = err
	s.signal()
	return err
}

func (s *Spool) signal() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// Ack records that the backend has stored every message up to seq, and
// deletes segments that hold nothing else. Acks for messages the spool never
// produced are errors.
func (s *Spool) Ack(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.acked {
		return nil
	}
	if seq >= s.nextSeq {
		return fmt.Errorf("ack %d for a message never sent (last is %d)", seq, s.nextSeq-1)
	}
	for _, seg := range s.segs {
		for i, r := range seg.recs {
			q := seg.first + uint64(i)
			if q > s.acked && q <= seq {
				s.unacked -= int64(r.n)
				s.nUnacked--
			}
		}
		if seg.first+uint64(len(seg.recs)) > seq {
			break
		}
	}
	s.acked = seq
	// Delete fully acked segments, never the head.
	for len(s.segs) > 1 && s.segs[0].first+uint64(len(s.segs[0].recs))-1 <= seq {
		seg := s.segs[0]
		seg.f.Close()
		if err := removeFile(seg.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete acked spool segment: %w", err)
		}
		s.segs = s.segs[1:]
	}
	s.signal()
	return nil
}

// Rebase moves the next sequence number past last when the backend has
// stored more than this spool knows about: the spool was lost or wiped while
// the session went on. It fails if the spool still holds unacknowledged
// messages, since those would collide.
func (s *Spool) Rebase(last uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if last < s.nextSeq {
		return nil
	}
	if s.nUnacked > 0 {
		// Repair renumbers unsent messages past last before this is called.
		return fmt.Errorf("%w: backend has %d messages, spool ends at %d with unsent data", ErrSpoolCorrupt, last, s.nextSeq-1)
	}
	// The digest of messages this spool never saw is unknown: zero it, so the
	// receipt cannot claim a chain it did not compute.
	s.digest, s.digestKnown = [32]byte{}, false
	if err := s.newSegment(last + 1); err != nil {
		return err
	}
	for len(s.segs) > 1 {
		s.segs[0].f.Close()
		if s.segs[0].damaged {
			s.moveAside(s.segs[0].path)
		} else {
			removeFile(s.segs[0].path)
		}
		s.segs = s.segs[1:]
	}
	s.nextSeq, s.acked = last+1, last
	s.countUnacked()
	s.holes, s.tornFrom = 0, 0
	s.writeState(last)
	s.signal()
	return nil
}

// Read returns the frame with sequence number seq, decrypted. It fails for
// messages already acknowledged and deleted, and for ones not yet appended.
func (s *Spool) Read(seq uint64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSpoolClosed
	}
	if seq >= s.nextSeq || seq <= s.acked {
		return nil, fmt.Errorf("spool has no message %d (acked %d, next %d)", seq, s.acked, s.nextSeq)
	}
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].first > seq }) - 1
	seg := s.segs[i]
	r := seg.recs[seq-seg.first]
	if r.bad {
		return nil, fmt.Errorf("%w: message %d is missing or unreadable", ErrSpoolCorrupt, seq)
	}
	b := make([]byte, r.size)
	if _, err := seg.f.ReadAt(b, r.off); err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	frame, err := s.aead.Open(b[recHeaderSize:recHeaderSize], b[12:24], b[recHeaderSize:], b[4:12])
	if err == nil && binary.BigEndian.Uint64(b[4:]) != seq {
		err = errors.New("wrong seq")
	}
	if err != nil {
		// Damaged on disk since it was indexed: a hole from now on.
		seg.recs[seq-seg.first].bad = true
		s.holes++
		return nil, fmt.Errorf("%w: message %d does not decrypt", ErrSpoolCorrupt, seq)
	}
	return frame, nil
}

// Wait blocks until a message with sequence number seq has been appended,
// the spool fails or closes, or ctx ends.
func (s *Spool) Wait(ctx context.Context, seq uint64) error {
	for {
		s.mu.Lock()
		ready, failed, closed, wake := seq < s.nextSeq, s.failed, s.closed, s.wake
		s.mu.Unlock()
		switch {
		case ready:
			return nil
		case closed:
			return ErrSpoolClosed
		case failed != nil:
			return failed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

// WaitAcked blocks until every message appended so far is acknowledged.
func (s *Spool) WaitAcked(ctx context.Context) error {
	for {
		s.mu.Lock()
		done, closed, wake := s.acked+1 >= s.nextSeq, s.closed, s.wake
		s.mu.Unlock()
		if done {
			return nil
		}
		if closed {
			return ErrSpoolClosed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

// SpoolStatus is a snapshot of a spool's counters.
type SpoolStatus struct {
	NextSeq      uint64 // the sequence number Append assigns next
	Acked        uint64 // every message up to this one is acknowledged
	Unacked      int    // messages waiting for an ack
	UnackedBytes int64  // their frame bytes: the backlog adaptive bitrate watches
	Digest       string // hex SHA-256 chain over every frame appended (docs/protocol.md §5); "" when unknown
	// SyncedSeq is the last message on stable storage and SyncedDigest the
	// chain through it ("" when unknown): what a checkpoint vouches for.
	SyncedSeq    uint64
	SyncedDigest string
	Failed       error // the sticky write failure, if any
	Segments     int   // segment files on disk
	// Damage is what the spool lost or renumbered since it was opened
	// (Repair); zero when the spool was whole.
	Damage SpoolDamage
}

// Status returns the spool's counters.
func (s *Spool) Status() SpoolStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SpoolStatus{
		NextSeq:      s.nextSeq,
		Acked:        s.acked,
		Unacked:      s.nUnacked,
		UnackedBytes: s.unacked,
		Digest:       s.digestHex(),
		SyncedSeq:    s.synced,
		SyncedDigest: s.syncedDigest,
		Failed:       s.failed,
		Segments:     len(s.segs),
		Damage:       s.damage,
	}
}

// Backlog returns the frame bytes not yet acknowledged.
func (s *Spool) Backlog() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unacked
}

// Sync flushes appended messages to stable storage.
func (s *Spool) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncLocked()
}

func (s *Spool) syncLocked() error {
	if s.closed {
		return nil
	}
	if !s.dirty {
		s.markSynced()
		return nil
	}
	if err := s.segs[len(s.segs)-1].f.Sync(); err != nil {
		return s.writeErr(err)
	}
	s.lastSync, s.dirty = s.opts.Now(), false
	s.writeState(s.nextSeq - 1)
	s.markSynced()
	return nil
}

// Close syncs and closes the spool; its files stay for the next run. It is
// idempotent.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	err := s.syncLocked()
	s.closed = true
	s.closeFiles()
	s.signal()
	if uerr := s.unlock(); err == nil {
		err = uerr
	}
	return err
}

func (s *Spool) closeFiles() {
	for _, seg := range s.segs {
		seg.f.Close()
	}
}

// Wipe closes the spool and deletes its segment files: after a finished
// session, nothing of the exam stays on the machine. Other files in the
// directory are the caller's.
func (s *Spool) Wipe() error {
	s.mu.Lock()
	paths := make([]string, 0, len(s.segs))
	for _, seg := range s.segs {
		paths = append(paths, seg.path)
	}
	s.mu.Unlock()
	closeErr := s.Close()
	paths = append(paths, filepath.Join(s.dir, stateFileName), filepath.Join(s.dir, "lock"))
	var errs []error
	for _, p := range paths {
		if err := removeFile(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("wipe spool: %w", errors.Join(errs...))
	}
	_ = closeErr // the data is gone either way; a failed final fsync does not matter
	return nil
}

// poll reports whether message seq can be read, and otherwise gives a channel
// that is closed at the next change. It lets a writer wait on the spool and
// other channels at once.
func (s *Spool) poll(seq uint64) (bool, <-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return false, nil, ErrSpoolClosed
	case seq < s.nextSeq:
		return true, nil, nil
	}
	// A failed spool still sends everything appended before the failure.
	return false, s.wake, nil
}

// ackedThrough is the spool's acked sequence number.
func (s *Spool) ackedThrough() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked
}
