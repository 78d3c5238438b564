package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/invigil/invigil/backend"
	"github.com/invigil/invigil/transport/faultproxy"
)

// killedWithBacklog runs a client until it has spooled messages the backend
// has not got, and kills it (-9).
func killedWithBacklog(t *testing.T, server, spool string, p *faultproxy.Proxy) {
	t.Helper()
	cmd, _, _ := startClient(t, clientArgs(server, spool, time.Minute)...)
	time.Sleep(2 * time.Second)
	p.Stall()
	time.Sleep(2 * time.Second) // spooled and synced (at most 1 s), not sent
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	p.Resume()
}

// sessionEvents returns the events of every session in data by type.
func sessionEvents(t *testing.T, data string) map[string][]map[string]any {
	t.Helper()
	b, err := backend.Open(backend.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	ss, err := b.ListSessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]any{}
	for _, s := range ss {
		evs, err := b.ListEvents(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			var body map[string]any
			json.Unmarshal(e.Body, &body)
			out[e.Type] = append(out[e.Type], body)
		}
	}
	return out
}

// TestE2ESpoolDamageIsReported: a flipped byte in a spooled message that was
// never sent is no longer taken for a torn tail. The run resumes, the rest
// is uploaded, the proctor gets a spool.corrupt event and the run exits 10.
func TestE2ESpoolDamageIsReported(t *testing.T) {
	be := startBackend(t, newData(t), "127.0.0.1:0")
	p, err := faultproxy.New(be.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	spool := filepath.Join(t.TempDir(), "spool")
	killedWithBacklog(t, "http://"+p.Addr(), spool, p)

	segs, _ := filepath.Glob(filepath.Join(spool, "*.seg"))
	sort.Strings(segs)
	if len(segs) == 0 {
		t.Fatal("no spool segments")
	}
	head := segs[len(segs)-1]
	b, err := os.ReadFile(head)
	if err != nil {
		t.Fatal(err)
	}
	var ends []int
	for off := 76; off+24 <= len(b); {
		off += 24 + int(binary.BigEndian.Uint32(b[off:]))
		ends = append(ends, off)
	}
	// In the ciphertext of a record three quarters in: the killed run
	// sent and got acks for its first 2 s and spooled the next 2 s
	// unsent, so the middle record could be an acked one, never read
	// again (half the runs on a fast machine). The last one would be a
	// torn tail.
	b[ends[len(ends)*3/4]-3] ^= 0x55
	os.WriteFile(head, b, 0o600)

	r := runClient(t, clientArgs("http://"+p.Addr(), spool, 2*time.Second)...)
	if r.exit != exitSpoolLost || !r.summary.Resumed {
		t.Fatalf("exit %d (want %d), summary %+v:\n%s", r.exit, exitSpoolLost, r.summary, r.stderr)
	}
	if !strings.Contains(r.stderr, "could not be read") {
		t.Errorf("stderr does not name the loss:\n%s", r.stderr)
	}
	be.kill()
	evs := sessionEvents(t, be.data)
	if c := evs["spool.corrupt"]; len(c) != 1 || c[0]["lost"] != float64(1) {
		t.Fatalf("spool.corrupt events %v", c)
	}
	if m, _ := filepath.Glob(spool + ".damaged-*"); len(m) != 1 {
		t.Errorf("damaged files not kept aside: %v", m)
	}
}

// TestE2ESessionFileDeleted: spool segments whose session.json is gone are
// set aside; a new session is joined, reports them, finishes (exit 10), and
// the next run starts cleanly.
func TestE2ESessionFileDeleted(t *testing.T) {
	be := startBackend(t, newData(t), "127.0.0.1:0")
	p, err := faultproxy.New(be.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	spool := filepath.Join(t.TempDir(), "spool")
	killedWithBacklog(t, "http://"+p.Addr(), spool, p)
	if err := os.Remove(filepath.Join(spool, "session.json")); err != nil {
		t.Fatal(err)
	}
	r := runClient(t, clientArgs("http://"+p.Addr(), spool, 2*time.Second)...)
	if r.exit != exitSpoolLost || r.summary.Resumed {
		t.Fatalf("exit %d (want %d), summary %+v:\n%s", r.exit, exitSpoolLost, r.summary, r.stderr)
	}
	r2 := runClient(t, clientArgs("http://"+p.Addr(), spool, 2*time.Second)...)
	if r2.exit != 0 {
		t.Fatalf("the run after: exit %d:\n%s", r2.exit, r2.stderr)
	}
	be.kill()
	if a := sessionEvents(t, be.data)["spool.set_aside"]; len(a) != 1 {
		t.Fatalf("spool.set_aside events %v", a)
	}
	if m, _ := filepath.Glob(spool + ".retired-*"); len(m) != 1 {
		t.Errorf("old spool not kept aside: %v", m)
	}
}
