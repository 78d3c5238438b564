package backend

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/invigil/invigil/transport"
	"github.com/invigil/invigil/transport/faultproxy"
)

// rewriteSpooled is the attack of issue 12: whoever holds the spool key
// (from session.json's token and POST /resume) decrypts a spooled message,
// changes its payload and seals it again in place.
func rewriteSpooled(t *testing.T, dir string, key []byte, seq uint64) {
	t.Helper()
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	for _, path := range segs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for off := 76; off+24 <= len(b); {
			n := int(binary.BigEndian.Uint32(b[off:]))
			if binary.BigEndian.Uint64(b[off+4:]) == seq {
				frame, err := aead.Open(nil, b[off+12:off+24], b[off+24:off+24+n], b[off+4:off+12])
				if err != nil {
					t.Fatal(err)
				}
				copy(frame[transport.HeaderSize:], "FORGED")
				aead.Seal(b[off+24:off+24], b[off+12:off+24], frame, b[off+4:off+12])
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
				return
			}
			off += 24 + n
		}
	}
	t.Fatalf("message %d not in the spool", seq)
}

// TestTamperAfterCaptureIsEvident: messages captured while the upload is
// slow are checkpointed at once; the client is stopped, one spooled message
// rewritten with the key, and the session resumed. The backend stores what
// it is sent, and records that it contradicts the checkpoint.
func TestTamperAfterCaptureIsEvident(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.b.EnsureDemoExam(ctx)
	p, err := faultproxy.New(e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r, err := transport.Join(ctx, nil, "http://"+p.Addr(), transport.JoinRequest{Code: "DEMO", Client: transport.ClientInfo{App: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	ck := configKey(t, r)
	dir := t.TempDir()
	sp, err := transport.OpenSpool(dir, r.SpoolKey, transport.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Throttle(64 << 10) // a slow uplink: 64 KiB/s
	c, err := transport.NewClient(transport.ClientConfig{URL: r.WSURL, Token: r.Token, SessionID: r.SessionID, ConfigKey: ck, Spool: sp,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	const n = 20
	payload := bytes.Repeat([]byte("x"), 64<<10)
	for i := 1; i <= n; i++ {
		if _, err := c.Spool().Append(transport.Message{Kind: transport.KindData, Track: transport.TrackHeartbeat, Time: time.Now(), Payload: payload}); err != nil {
			t.Fatal(err)
		}
	}
	captured := time.Now()
	// The checkpoint through n reaches the backend ahead of the data.
	waitUntil(t, func() bool {
		var got int
		e.b.db.QueryRow(`SELECT count(*) FROM checkpoints WHERE session_id = ? AND seq = ?`, r.SessionID, n).Scan(&got)
		return got == 1
	})
	t.Logf("checkpoint through %d recorded %v after capture; %d of %d messages stored then", n, time.Since(captured).Round(time.Millisecond), storedSeq(t, e, r.SessionID), n)
	// Captured while the upload is busy: the checkpoint overtakes the queue.
	const m = n + 5
	for i := n + 1; i <= m; i++ {
		if _, err := c.Spool().Append(transport.Message{Kind: transport.KindData, Track: transport.TrackHeartbeat, Time: time.Now(), Payload: payload}); err != nil {
			t.Fatal(err)
		}
	}
	captured = time.Now()
	waitUntil(t, func() bool {
		var got int
		e.b.db.QueryRow(`SELECT count(*) FROM checkpoints WHERE session_id = ? AND seq = ?`, r.SessionID, m).Scan(&got)
		return got == 1
	})
	t.Logf("mid-upload: checkpoint through %d recorded %v after capture, with %d messages (%d KiB) still queued", m, time.Since(captured).Round(time.Millisecond),
		m-storedSeq(t, e, r.SessionID), (m-storedSeq(t, e, r.SessionID))*64)
	c.Close()
	sp.Close()
	p.Cut()
	if got := storedSeq(t, e, r.SessionID); got >= m-2 {
		t.Fatalf("%d messages stored already; the test needs the tampered one unsent", got)
	}

	rewriteSpooled(t, dir, r.SpoolKey, m-2)

	sp, err = transport.OpenSpool(dir, r.SpoolKey, transport.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	p.Throttle(0)
	c, err = transport.NewClient(transport.ClientConfig{URL: r.WSURL, Token: r.Token, SessionID: r.SessionID, ConfigKey: ck, Spool: sp,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Close()
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.Finish(fctx); err != nil {
		t.Fatal(err)
	}
	ss, err := e.b.ListSessions(ctx)
	if err != nil || len(ss) != 1 {
		t.Fatalf("sessions %v, %v", ss, err)
	}
	in := ss[0].Integrity
	if in.Status != "mismatch" || len(in.Mismatches) == 0 || in.Mismatches[0].Seq != m {
		t.Fatalf("integrity after a rewritten spool: %+v, want a mismatch at checkpoint %d", in, m)
	}
}

func storedSeq(t *testing.T, e *env, id string) int {
	t.Helper()
	var last int
	if err := e.b.db.QueryRow(`SELECT last_seq FROM sessions WHERE id = ?`, id).Scan(&last); err != nil {
		t.Fatal(err)
	}
	return last
}

// TestCheckpointsVerifyAnHonestSession: an untouched session's checkpoints
// all match.
func TestCheckpointsVerifyAnHonestSession(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.b.EnsureDemoExam(ctx)
	r, err := e.join(t, "DEMO")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newSessionClient(t, r, configKey(t, r), nil)
	for i := range 50 {
		c.Spool().Append(transport.Message{Kind: transport.KindData, Track: transport.TrackHeartbeat, Time: time.Now(), Payload: fmt.Append(nil, "hb", i)})
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Finish(fctx); err != nil {
		t.Fatal(err)
	}
	in, err := e.b.Integrity(ctx, r.SessionID)
	if err != nil || in.Status != "verified" || in.Verified == 0 || len(in.Mismatches) != 0 {
		t.Fatalf("integrity of an honest session: %+v, %v", in, err)
	}
}

// TestCheckpointRowsSettleInOrder drives the storer's side of checkpoints:
// one that arrives while its data's batch is being stored is checked
// against that batch (it is not left pending), one ahead of the data waits
// as pending and is checked by the batch that stores its seq, one for data
// stored two batches ago is late.
func TestCheckpointRowsSettleInOrder(t *testing.T) {
	e := newEnv(t)
	s := e.b.newLiveSession("s_test")
	s.pendingCps = map[uint64]receivedCheckpoint{}
	ctx := context.Background()
	var chain [][32]byte // chain[i]: digest through seq i
	chain = append(chain, [32]byte{})
	for i := 1; i <= 40; i++ {
		chain = append(chain, transport.Chain(chain[i-1], fmt.Append(nil, "m", i)))
	}
	batch := func(first, last uint64) storedChain {
		return storedChain{base: first - 1, baseD: chain[first-1], digests: chain[first : last+1]}
	}
	status := func(rows []checkpointWrite) map[uint64]string {
		m := map[uint64]string{}
		for _, w := range rows {
			if w.resolve {
				m[w.cp.seq] = "resolved " + w.status
			} else {
				m[w.cp.seq] = w.status
			}
		}
		return m
	}
	if rows := s.checkpointRows(batch(1, 10)); len(rows) != 0 { // batch 1..10 starts storing
		t.Fatalf("rows without checkpoints: %v", rows)
	}
	s.Checkpoint(ctx, 5, chain[5])       // arrives while 1..10 is stored
	s.Checkpoint(ctx, 25, chain[25])     // ahead of its data
	s.Checkpoint(ctx, 12, [32]byte{'x'}) // data changed after capture
	got := status(s.checkpointRows(batch(11, 20)))
	want := map[uint64]string{5: "ok", 25: "pending", 12: "mismatch"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after batch 11..20: %v, want %v", got, want)
	}
	s.Checkpoint(ctx, 3, chain[3]) // for data stored two batches ago
	got = status(s.checkpointRows(batch(21, 30)))
	want = map[uint64]string{3: "late", 25: "resolved ok"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after batch 21..30: %v, want %v", got, want)
	}
	if len(s.pendingCps) != 0 || s.cpPending != 0 {
		t.Fatalf("still pending: %v", s.pendingCps)
	}
}
