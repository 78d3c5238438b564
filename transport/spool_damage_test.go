package transport

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/transport/faultproxy"
)

// segRecord is a record's place in a segment file, read without the key.
type segRecord struct {
	seq      uint64
	off, end int64
}

// segFiles lists the spool's segment files, oldest first.
func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// segRecords walks a segment file's record headers.
func segRecords(t *testing.T, path string) []segRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []segRecord
	for off := int64(segHeaderSize); off+recHeaderSize <= int64(len(b)); {
		n := int64(binary.BigEndian.Uint32(b[off:]))
		r := segRecord{seq: binary.BigEndian.Uint64(b[off+4:]), off: off, end: off + recHeaderSize + n}
		out = append(out, r)
		off = r.end
	}
	return out
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x55
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// damagedRun runs a session whose client stops with messages 21..100 spooled
// but not delivered, damages the spool's files with damage (which returns
// the seqs it destroyed), then restarts the client on the damaged spool,
// sends 101..110 and finishes. The backend must end up with every message
// that was not destroyed, once, and an event naming what was lost.
func damagedRun(t *testing.T, digestKnown bool, damage func(t *testing.T, dir string) []uint64) {
	t.Helper()
	store := newMemStore()
	b := startBackend(t, store, "")
	defer b.kill()
	dir := filepath.Join(t.TempDir(), "spool")
	spool := mustOpen(t, dir, SpoolOptions{SegmentBytes: 1000})
	p, err := faultproxy.New(b.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := newTestClient(t, wsURL(p.Addr()), spool, nil)
	sendN(t, c, 1, 20)
	waitFor(t, "20 acked", func() bool { return spool.Status().Acked == 20 })
	p.Stall()
	sendN(t, c, 21, 100) // spooled, not delivered
	c.Close()
	spool.Close()
	p.Cut()
	p.Resume()

	lost := damage(t, dir)
	isLost := map[int]bool{}
	for _, q := range lost {
		isLost[int(q)] = true
	}

	spool = mustOpen(t, dir, SpoolOptions{SegmentBytes: 1000})
	defer spool.Close()
	c = newTestClient(t, wsURL(b.addr()), spool, nil)
	defer c.Close()
	for i := 101; i <= 110; i++ {
		if _, err := c.Spool().Append(testMsg(i)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := c.Finish(ctx)
	if err != nil {
		t.Fatalf("Finish after damage: %v (status %+v)", err, c.Status())
	}
	switch {
	case digestKnown && res.ServerDigest != res.ClientDigest:
		t.Errorf("digests differ: server %s, client %s", res.ServerDigest, res.ClientDigest)
	case !digestKnown && res.ClientDigest != "":
		// The chain through messages this spool never had is unknown: the
		// receipt must not claim one.
		t.Errorf("client digest %s through lost messages", res.ClientDigest)
	}

	store.mu.Lock()
	defer store.mu.Unlock()
	got := map[int]int{}
	var events []map[string]any
	for i, f := range store.frames {
		if f.Seq != uint64(i+1) {
			t.Fatalf("stored[%d] has seq %d", i, f.Seq)
		}
		if f.Track == TrackEvents {
			var ev map[string]any
			json.Unmarshal(f.Payload, &ev)
			events = append(events, ev)
			continue
		}
		var n int
		fmt.Sscanf(string(f.Payload), "message %d", &n)
		got[n]++
	}
	for i := 1; i <= 110; i++ {
		switch {
		case isLost[i] && got[i] != 0:
			t.Errorf("message %d was destroyed but stored %d times", i, got[i])
		case !isLost[i] && got[i] != 1:
			t.Errorf("message %d stored %d times, want once", i, got[i])
		}
	}
	var reported float64
	for _, ev := range events {
		if ev["type"] == EventSpoolCorrupt {
			reported += ev["lost"].(float64)
		}
	}
	if int(reported) != len(lost) {
		t.Errorf("spool.corrupt events report %v lost messages, want %d (events %v)", reported, len(lost), events)
	}
	if d := c.Status().Spool.Damage; d.Lost != len(lost) || (len(lost) > 0 && d.Aside == "") {
		t.Errorf("status damage %+v, want %d lost and the files kept aside", d, len(lost))
	}
}

func TestSpoolDamageFlippedByteInHead(t *testing.T) {
	damagedRun(t, true, func(t *testing.T, dir string) []uint64 {
		segs := segFiles(t, dir)
		head := segs[len(segs)-1]
		recs := segRecords(t, head)
		r := recs[len(recs)/2]
		flipByte(t, head, r.end-3) // in the ciphertext
		return []uint64{r.seq}
	})
}

func TestSpoolDamageHeadCutInHalf(t *testing.T) {
	damagedRun(t, true, func(t *testing.T, dir string) []uint64 {
		segs := segFiles(t, dir)
		head := segs[len(segs)-1]
		st, _ := os.Stat(head)
		cut := st.Size() / 2
		var lost []uint64
		for _, r := range segRecords(t, head) {
			if r.end > cut {
				lost = append(lost, r.seq)
			}
		}
		if err := os.Truncate(head, cut); err != nil {
			t.Fatal(err)
		}
		return lost
	})
}

func TestSpoolDamageFlippedByteInOlderSegment(t *testing.T) {
	damagedRun(t, true, func(t *testing.T, dir string) []uint64 {
		segs := segFiles(t, dir)
		if len(segs) < 3 {
			t.Fatalf("only %d segments", len(segs))
		}
		older := segs[len(segs)-2]
		recs := segRecords(t, older)
		r := recs[1]
		flipByte(t, older, r.end-5)
		return []uint64{r.seq}
	})
}

func TestSpoolDamageRecordHeaderInOlderSegment(t *testing.T) {
	damagedRun(t, true, func(t *testing.T, dir string) []uint64 {
		segs := segFiles(t, dir)
		older := segs[len(segs)-2]
		recs := segRecords(t, older)
		r := recs[2]
		flipByte(t, older, r.off) // the length: the records after it must be found again
		return []uint64{r.seq}
	})
}

func TestSpoolDamageOldestSegmentDeleted(t *testing.T) {
	damagedRun(t, false, func(t *testing.T, dir string) []uint64 {
		segs := segFiles(t, dir)
		var lost []uint64
		for _, r := range segRecords(t, segs[0]) {
			if r.seq > 20 { // 1..20 are on the backend
				lost = append(lost, r.seq)
			}
		}
		if len(lost) == 0 {
			t.Fatalf("the oldest segment holds nothing unacked")
		}
		os.Remove(segs[0])
		return lost
	})
}

func TestSpoolDamageMiddleSegmentDeleted(t *testing.T) {
	damagedRun(t, true, func(t *testing.T, dir string) []uint64 {
		segs := segFiles(t, dir)
		mid := segs[len(segs)/2]
		var lost []uint64
		for _, r := range segRecords(t, mid) {
			lost = append(lost, r.seq)
		}
		os.Remove(mid)
		return lost
	})
}

func TestSpoolDamageNothingLost(t *testing.T) {
	damagedRun(t, true, func(*testing.T, string) []uint64 { return nil })
}

// crash drops a spool the way a killed process does: files closed, nothing
// synced, no state written.
func crash(s *Spool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.closeFiles()
	s.unlock()
}

// TestSpoolSyncedTailIsNotTorn: the same cut that is a torn tail after a
// crash is damage when the records were synced, and Repair reports it.
func TestSpoolSyncedTailIsNotTorn(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, SpoolOptions{})
	appendN(t, s, 1, 5)
	s.Close() // syncs: 1..5 are durable
	seg := filepath.Join(dir, segName(1))
	b, _ := os.ReadFile(seg)
	os.WriteFile(seg, b[:len(b)-5], 0o600)
	s = mustOpen(t, dir, SpoolOptions{})
	defer s.Close()
	if _, err := s.Read(5); err == nil {
		t.Fatal("message 5 readable after its record was cut")
	}
	d, err := s.Repair(0)
	if err != nil || d == nil || d.Lost != 1 || d.LostFrom != 5 || d.LostTo != 5 {
		t.Fatalf("Repair = %+v, %v; want message 5 lost", d, err)
	}
	checkFrames(t, s, 1, 4)
	f, err := s.Read(5)
	if err != nil {
		t.Fatal(err)
	}
	h, p, _ := DecodeFrame(f)
	if h.Track != TrackEvents || !strings.Contains(string(p), `"type":"spool.corrupt"`) {
		t.Fatalf("message 5 is %s on track %d, want the spool.corrupt event", p, h.Track)
	}
	if st := s.Status(); st.NextSeq != 6 || st.Digest == "" {
		t.Fatalf("after repair: %+v", st)
	}
}
