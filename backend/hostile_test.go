package backend

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/transport"
)

const hostileChildEnv = "INVIGIL_TEST_HOSTILE_CHILD"

// TestSurvivesHostileParamSetsUnder1GiB runs the real ingest path (a
// backend, a websocket client) in a child process limited to 1 GiB of
// data (prlimit --data: RLIMIT_DATA, every private writable mapping, which
// is where the Go heap lives; GOMEMLIMIT 768 MiB) and feeds it
// hostile parameter sets and NAL-unit floods between valid media. Before
// the bounds the first message alone asked mp4ff for 4 GiB: the child died
// with "fatal error: out of memory". The child reports its peak RSS, which
// must stay well below the limit.
func TestSurvivesHostileParamSetsUnder1GiB(t *testing.T) {
	if os.Getenv(hostileChildEnv) == "1" {
		hostileWorkload(t)
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("needs prlimit and /proc (Linux)")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatal("prlimit (util-linux) not found")
	}
	args := []string{os.Args[0], "-test.run=^TestSurvivesHostileParamSetsUnder1GiB$", "-test.v"}
	if !raceEnabled {
		// Not --as (ulimit -v): this process reserves about 1.8 GiB of
		// address space at 80 MiB of RSS (Go's heap arenas, thread
		// stacks), so an address-space limit of 1 GiB fails healthy code.
		args = append([]string{"--data=1073741824", "--"}, args...)
	} else {
		args = append([]string{"--"}, args...) // race shadow memory needs terabytes of address space
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prlimit, args...)
	cmd.Env = append(os.Environ(), hostileChildEnv+"=1", "GOMEMLIMIT=768MiB")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child under a 1 GiB limit failed: %v\n%s\n...\n%s", err, head(out, 12), tail(out, 30))
	}
	var peak, vm, cpu int64 = -1, -1, -1
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "peak_rss_kib="); ok {
			peak, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "peak_vm_kib="); ok {
			vm, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ingest_ms="); ok {
			cpu, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if peak < 0 {
		t.Fatalf("child did not report its RSS:\n%s", tail(out, 40))
	}
	t.Logf("child peak RSS %d MiB (address space %d MiB), all messages stored in %d ms", peak>>10, vm>>10, cpu)
	if !raceEnabled && peak > 400<<10 {
		t.Errorf("child peak RSS %d MiB: want well below the 1 GiB limit", peak>>10)
	}
}

func head(b []byte, lines int) string {
	l := strings.Split(string(b), "\n")
	return strings.Join(l[:min(len(l), lines)], "\n")
}

func tail(b []byte, lines int) string {
	l := strings.Split(string(b), "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

// hostileWorkload is the child's part: one session that mixes valid
// camera frames with every kind of hostile media, each repeated.
func hostileWorkload(t *testing.T) {
	// The usual 10 s heartbeat: newEnv's 300 ms declares a connection
	// dead while the race detector's client spools a 4 MiB message.
	e := &env{now: time.Now()}
	b, err := Open(Config{DataDir: t.TempDir(), Heartbeat: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.b = b
	e.srv = httptest.NewServer(b.Handler())
	t.Cleanup(func() {
		e.srv.CloseClientConnections()
		e.srv.Close()
		http.DefaultClient.CloseIdleConnections()
		b.Close()
	})
	l := newLiveEnvOn(t, e)
	now := time.Now()
	wideSPS := []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xf4, 0x00, 0x08, 0x00, 0x72}
	// The SPS with the largest count mp4ff reads (2^32 - 2).
	huge := []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xd0, 0x00, 0x00, 0x03, 0x00, 0x01, 0xff, 0xff, 0xff, 0xfc,
		0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1, 0x65, 0x88, 0x84}
	flood := bytes.Repeat([]byte{0, 0, 1}, (transport.MaxFrameBytes-transport.HeaderSize)/3)           // 1.4 M empty NAL units
	bigSPS := append([]byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f}, bytes.Repeat([]byte{0xff}, 3<<20)...) // a 3 MiB SPS
	hostile := [][]byte{hostileAU, huge, wideSPS, flood, bigSPS}
	rounds := 8
	if raceEnabled {
		rounds = 2 // the race detector makes each 4 MiB message slow
	}
	n := 0
	start := time.Now()
	for range rounds {
		for _, h := range hostile {
			at := now.Add(time.Duration(n) * time.Millisecond)
			for _, m := range []transport.Message{media(transport.TrackCamera, at, h), media(transport.TrackScreen, at, validAU)} {
				if _, err := l.c.Spool().Append(m); err != nil {
					t.Fatal(err)
				}
			}
			n++
		}
	}
	for deadline := time.Now().Add(2 * time.Minute); l.sp.Status().Unacked > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still unacked", l.sp.Status().Unacked)
		}
	}
	elapsed := time.Since(start)
	l.finish(t)
	rs := refusals(t, l.events(t))
	if len(rs) != rounds*len(hostile) {
		t.Errorf("%d refusals, want %d", len(rs), rounds*len(hostile))
	}
	ss, _ := l.b.ListSessions(context.Background())
	for _, tr := range ss[0].Tracks {
		if tr.Name == "screen" && tr.Frames != int64(n) {
			t.Errorf("screen track: %d frames, want %d", tr.Frames, n)
		}
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Printf("peak_rss_kib=%s\n", strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
		if v, ok := strings.CutPrefix(line, "VmPeak:"); ok {
			fmt.Printf("peak_vm_kib=%s\n", strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	fmt.Printf("ingest_ms=%d\n", elapsed.Milliseconds())
}
