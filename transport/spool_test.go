package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

var testKey = bytes.Repeat([]byte{7}, 32)

func testMsg(i int) Message {
	return Message{Kind: KindData, Track: TrackHeartbeat, Time: time.UnixMicro(int64(i) * 1000), Payload: fmt.Appendf(nil, "message %d", i)}
}

func mustOpen(t *testing.T, dir string, opts SpoolOptions) *Spool {
	t.Helper()
	s, err := OpenSpool(dir, testKey, opts)
	if err != nil {
		t.Fatalf("OpenSpool: %v", err)
	}
	return s
}

func appendN(t *testing.T, s *Spool, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		seq, err := s.Append(testMsg(i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if seq != uint64(i) {
			t.Fatalf("Append %d got seq %d", i, seq)
		}
	}
}

// checkFrames reads from..to back and checks each is message i.
func checkFrames(t *testing.T, s *Spool, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		f, err := s.Read(uint64(i))
		if err != nil {
			t.Fatalf("Read %d: %v", i, err)
		}
		h, p, err := DecodeFrame(f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if h.Seq != uint64(i) || string(p) != fmt.Sprintf("message %d", i) {
			t.Fatalf("frame %d = seq %d %q", i, h.Seq, p)
		}
	}
}

// wantDigest computes the chain of docs/protocol.md section 5 independently.
func wantDigest(t *testing.T, n int) string {
	t.Helper()
	var d [32]byte
	for i := 1; i <= n; i++ {
		m := testMsg(i)
		d = sha256.Sum256(append(d[:], AppendFrame(nil, Header{Kind: m.Kind, Track: m.Track, Seq: uint64(i), Time: m.Time}, m.Payload)...))
	}
	return hex.EncodeToString(d[:])
}

func TestSpoolAppendAckReopen(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, SpoolOptions{SegmentBytes: 300})
	appendN(t, s, 1, 20)
	checkFrames(t, s, 1, 20)
	st := s.Status()
	if st.NextSeq != 21 || st.Unacked != 20 || st.Digest != wantDigest(t, 20) {
		t.Fatalf("status %+v", st)
	}
	if st.Segments < 3 {
		t.Fatalf("segments = %d, want rotation at 300 bytes", st.Segments)
	}
	if err := s.Ack(12); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(12); err == nil {
		t.Error("Read of an acked message succeeded")
	}
	if err := s.Ack(25); err == nil {
		t.Error("Ack beyond the head succeeded")
	}
	after := s.Status()
	if after.Unacked != 8 || after.Segments >= st.Segments {
		t.Errorf("after ack: %+v (before %d segments)", after, st.Segments)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// Reopen: unacked messages, seq and digest carry on. Acks are not stored
	// locally, so messages of a partly acked segment come back as unacked
	// until the backend's welcome says otherwise.
	s = mustOpen(t, dir, SpoolOptions{SegmentBytes: 300})
	defer s.Close()
	st = s.Status()
	if st.NextSeq != 21 || st.Digest != wantDigest(t, 20) || st.Acked > 12 {
		t.Fatalf("reopened status %+v", st)
	}
	checkFrames(t, s, 13, 20)
	appendN(t, s, 21, 25)
	s.Ack(25)
	if st := s.Status(); st.Unacked != 0 || st.UnackedBytes != 0 || st.Segments != 1 || st.Digest != wantDigest(t, 25) {
		t.Fatalf("all acked: %+v", st)
	}
}

func TestSpoolTornTail(t *testing.T) {
	for _, cut := range []int{1, 5, recHeaderSize + 3, -1} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, SpoolOptions{SyncInterval: time.Hour})
			appendN(t, s, 1, 5)
			crash(s) // nothing synced: the tail may be torn
			seg := filepath.Join(dir, segName(1))
			b, _ := os.ReadFile(seg)
			if cut < 0 {
				// A whole record whose ciphertext was not fully written: flip a byte.
				b[len(b)-1] ^= 0xff
			} else {
				b = b[:len(b)-cut]
			}
			os.WriteFile(seg, b, 0o600)
			s = mustOpen(t, dir, SpoolOptions{})
			defer s.Close()
			if st := s.Status(); st.NextSeq != 5 || st.Digest != wantDigest(t, 4) || st.Damage.Aside != "" {
				t.Fatalf("after torn tail: %+v", st)
			}
			if d, err := s.Repair(0); d != nil || err != nil {
				t.Fatalf("Repair after a torn tail = %+v, %v; want nothing to report", d, err)
			}
			checkFrames(t, s, 1, 4)
			appendN(t, s, 5, 6)
			checkFrames(t, s, 1, 6)
		})
	}
}

func TestSpoolRefusesWrongKeyAndSecondOpener(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, SpoolOptions{})
	appendN(t, s, 1, 2)
	if _, err := OpenSpool(dir, testKey, SpoolOptions{}); !errors.Is(err, ErrSpoolLocked) {
		t.Errorf("second open: err = %v, want ErrSpoolLocked", err)
	}
	s.Close()
	other := bytes.Repeat([]byte{8}, 32)
	if _, err := OpenSpool(dir, other, SpoolOptions{}); !errors.Is(err, ErrSpoolCorrupt) {
		t.Errorf("wrong key: err = %v, want ErrSpoolCorrupt", err)
	}
	// The data is still there for the right key.
	s = mustOpen(t, dir, SpoolOptions{})
	defer s.Close()
	checkFrames(t, s, 1, 2)
	// Nothing readable on disk without the key.
	b, _ := os.ReadFile(filepath.Join(dir, segName(1)))
	if bytes.Contains(b, []byte("message 1")) {
		t.Error("spool holds plaintext")
	}
}

func TestSpoolFullKeepsData(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, SpoolOptions{MaxBytes: 200})
	defer s.Close()
	n := 0
	var err error
	for n = 1; n < 100; n++ {
		if _, err = s.Append(testMsg(n)); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("err = %v, want ErrSpoolFull", err)
	}
	checkFrames(t, s, 1, n-1)
	// Once acks drain the backlog, appends work again.
	s.Ack(uint64(n - 1))
	if _, err := s.Append(testMsg(n)); err != nil {
		t.Fatalf("after drain: %v", err)
	}
}

func TestSpoolWriteFault(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, SpoolOptions{})
	appendN(t, s, 1, 3)
	orig := writeRecord
	writeRecord = func(f *os.File, b []byte, off int64) (int, error) {
		n, _ := f.WriteAt(b[:len(b)/2], off) // a torn write, then ENOSPC
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	_, err := s.Append(testMsg(4))
	writeRecord = orig
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("err = %v, want ErrDiskFull", err)
	}
	if _, err := s.Append(testMsg(4)); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("second append: err = %v, want the sticky ErrDiskFull", err)
	}
	s.Close()
	s = mustOpen(t, dir, SpoolOptions{})
	defer s.Close()
	if st := s.Status(); st.NextSeq != 4 {
		t.Fatalf("after fault: %+v", st)
	}
	checkFrames(t, s, 1, 3)
}

// TestSpoolDiskFull fills a real, tiny tmpfs. Mounting one needs root: CI
// is root; anyone else gets the test re-run inside a user and mount
// namespace (unshare -rm, util-linux), where they are.
func TestSpoolDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		out, err := exec.Command("unshare", "--user", "--map-root-user", "--mount",
			os.Args[0], "-test.run=^TestSpoolDiskFull$", "-test.count=1").CombinedOutput()
		if err != nil {
			t.Fatalf("not root, and the re-run in a user namespace failed (%v):\n%s", err, out)
		}
		return
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs: %v: %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	s := mustOpen(t, dir, SpoolOptions{SegmentBytes: 16 << 10})
	big := bytes.Repeat([]byte("x"), 3000)
	var n int
	var err error
	for n = 1; n < 100; n++ {
		if _, err = s.Append(Message{Kind: KindData, Track: TrackHeartbeat, Time: time.Now(), Payload: big}); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("err = %v after %d appends, want ErrDiskFull", err, n)
	}
	s.Close()
	s = mustOpen(t, dir, SpoolOptions{SegmentBytes: 16 << 10})
	defer s.Close()
	if st := s.Status(); st.NextSeq != uint64(n) {
		t.Fatalf("reopened after disk full: next %d, want %d", st.NextSeq, n)
	}
	for i := 1; i < n; i++ {
		if _, err := s.Read(uint64(i)); err != nil {
			t.Fatalf("message %d lost: %v", i, err)
		}
	}
}

func TestSpoolRebase(t *testing.T) {
	s := mustOpen(t, t.TempDir(), SpoolOptions{})
	defer s.Close()
	if err := s.Rebase(40); err != nil {
		t.Fatal(err)
	}
	seq, err := s.Append(testMsg(1))
	if err != nil || seq != 41 {
		t.Fatalf("Append after rebase = %d, %v", seq, err)
	}
	if err := s.Rebase(80); !errors.Is(err, ErrSpoolCorrupt) {
		t.Fatalf("rebase with unsent data: %v", err)
	}
}

// TestSpoolWait: Wait and WaitAcked block until the spool changes and are
// woken by it. synctest.Wait makes sure the waiter is blocked before the
// change, so a spool that never wakes its waiters fails here.
func TestSpoolWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := mustOpen(t, t.TempDir(), SpoolOptions{})
		defer s.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel() // lets a waiter that was never woken go
		done := make(chan error, 1)
		blockedThenWoken := func(what string, change func()) {
			t.Helper()
			synctest.Wait()
			select {
			case err := <-done:
				t.Fatalf("%s returned before the change: %v", what, err)
			default:
			}
			change()
			synctest.Wait()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			default:
				t.Fatalf("%s not woken by the change", what)
			}
		}
		go func() { done <- s.Wait(ctx, 1) }()
		blockedThenWoken("Wait", func() { appendN(t, s, 1, 1) })
		go func() { done <- s.WaitAcked(ctx) }()
		blockedThenWoken("WaitAcked", func() {
			if err := s.Ack(1); err != nil {
				t.Fatal(err)
			}
		})

		dctx, dcancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer dcancel()
		if err := s.Wait(dctx, 5); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait: %v", err)
		}
	})
}

func TestSpoolWipe(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, SpoolOptions{SegmentBytes: 200})
	appendN(t, s, 1, 10)
	if err := s.Wipe(); err != nil {
		t.Fatal(err)
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(m) != 0 {
		t.Errorf("segments left: %v", m)
	}
}

// FuzzSpoolSegment opens a spool whose head segment holds arbitrary bytes
// after a valid header: it must never panic, and after Repair every record
// it keeps is readable.
func FuzzSpoolSegment(f *testing.F) {
	dir := f.TempDir()
	s, _ := OpenSpool(dir, testKey, SpoolOptions{})
	for i := 1; i <= 3; i++ {
		s.Append(testMsg(i))
	}
	s.Close()
	valid, _ := os.ReadFile(filepath.Join(dir, segName(1)))
	f.Add(valid[segHeaderSize:])
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, tail []byte) {
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, segName(1)), append(bytes.Clone(valid[:segHeaderSize]), tail...), 0o600)
		s, err := OpenSpool(d, testKey, SpoolOptions{})
		if err != nil {
			return
		}
		defer s.Close()
		// Holes the scan found are cut by Repair; then every message reads.
		if _, err := s.Repair(0); err != nil {
			t.Fatalf("Repair: %v", err)
		}
		st := s.Status()
		for q := uint64(1); q < st.NextSeq; q++ {
			if _, err := s.Read(q); err != nil {
				t.Fatalf("kept record %d unreadable: %v", q, err)
			}
		}
		if _, err := s.Append(testMsg(1)); err != nil {
			t.Fatalf("append after open: %v", err)
		}
	})
}
