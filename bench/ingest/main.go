// Command ingest benchmarks the backend's ingest: N simulated clients (real
// transport clients with encrypted spools) stream to one in-process backend
// over loopback websockets. It prints throughput and ack latency (time from
// spooling a message to receiving the ack that covers it).
//
//	go run ./bench/ingest                      # realistic load, 1/10/50/100 clients
//	go run ./bench/ingest -saturate -clients 1,8,32
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/invigil/invigil/backend"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

func main() {
	clients := flag.String("clients", "1,10,50,100", "comma-separated client counts")
	rate := flag.Float64("rate", 17, "messages per second per client (camera 15 fps + screen 1 fps + events)")
	size := flag.Int("size", 1700, "mean payload bytes (about 230 kbps at 17/s)")
	dur := flag.Duration("duration", 10*time.Second, "how long each round streams")
	saturate := flag.Bool("saturate", false, "send as fast as the spool accepts instead of at -rate")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (clients and backend) to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	fmt.Printf("ingest benchmark: %s per round, payload ~%d B, ", *dur, *size)
	if *saturate {
		fmt.Println("clients send as fast as they can")
	} else {
		fmt.Printf("%.0f msg/s per client (%.0f kbps)\n", *rate, *rate*float64(*size)*8/1000)
	}
	fmt.Printf("%8s %10s %10s %9s %9s %9s %9s %8s\n", "clients", "msgs/s", "MB/s", "ack p50", "ack p95", "ack p99", "ack max", "stored")
	for _, f := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			log.Fatalf("bad -clients %q", f)
		}
		r, err := round(n, *rate, *size, *dur, *saturate)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%8d %10.0f %10.2f %9s %9s %9s %9s %8d\n", n, r.msgs/r.secs, r.bytes/r.secs/1e6,
			ms(r.pct(50)), ms(r.pct(95)), ms(r.pct(99)), ms(r.lat[len(r.lat)-1]), r.stored)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/1e6) }

type result struct {
	msgs, bytes, secs float64
	lat               []time.Duration
	stored            int64
}

func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p/100))]
}

func round(n int, rate float64, size int, dur time.Duration, saturate bool) (*result, error) {
	dir, err := os.MkdirTemp("", "invigil-ingest-bench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	b, err := backend.Open(backend.Config{DataDir: filepath.Join(dir, "backend"),
		Limits: backend.RateLimits{Off: true}, // every client joins from 127.0.0.1 at once
		Log:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	ctx := context.Background()
	e, err := b.CreateExam(ctx, backend.ExamSpec{Name: "bench"})
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()

	res := &result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, msgs, bytes, err := runClient(ctx, srv.URL, e.Code, filepath.Join(dir, fmt.Sprint("spool", i)), rate, size, dur, saturate)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.msgs += msgs
			res.bytes += bytes
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.secs = time.Since(start).Seconds()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	slices.Sort(res.lat)
	ss, err := b.ListSessions(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range ss {
		res.stored += int64(s.LastAck)
	}
	if res.stored != int64(res.msgs) {
		return nil, fmt.Errorf("stored %d messages, sent %.0f", res.stored, res.msgs)
	}
	return res, nil
}

// runClient joins, streams for dur and finishes; it returns the ack latency
// of every message.
func runClient(ctx context.Context, server, code, spoolDir string, rate float64, size int, dur time.Duration, saturate bool) ([]time.Duration, float64, float64, error) {
	j, err := transport.Join(ctx, nil, server, transport.JoinRequest{Code: code, Client: transport.ClientInfo{App: "bench"}})
	if err != nil {
		return nil, 0, 0, err
	}
	sp, err := transport.OpenSpool(spoolDir, j.SpoolKey, transport.SpoolOptions{})
	if err != nil {
		return nil, 0, 0, err
	}
	defer sp.Close()
	var mu sync.Mutex
	sent := map[uint64]time.Time{}
	var lat []time.Duration
	var acked uint64
	onAck := func(seq uint64) {
		now := time.Now()
		mu.Lock()
		for q := acked + 1; q <= seq; q++ {
			if t, ok := sent[q]; ok {
				lat = append(lat, now.Sub(t))
				delete(sent, q)
			}
		}
		acked = max(acked, seq)
		mu.Unlock()
	}
	// The config key is the exam's: the policy is signed canonical JSON.
	ck, err := configKeyOf(j)
	if err != nil {
		return nil, 0, 0, err
	}
	c, err := transport.NewClient(transport.ClientConfig{URL: j.WSURL, Token: j.Token, SessionID: j.SessionID, ConfigKey: ck, Spool: sp, OnAck: onAck})
	if err != nil {
		return nil, 0, 0, err
	}
	c.Start()
	defer c.Close()

	payload := make([]byte, 2*size)
	for i := range payload {
		payload[i] = byte(rand.N(256))
	}
	var msgs, bytes float64
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	end := next.Add(dur)
	for time.Now().Before(end) {
		if !saturate {
			time.Sleep(time.Until(next))
			next = next.Add(interval)
		} else if c.Backlog() > 8<<20 {
			time.Sleep(time.Millisecond) // keep the backlog bounded, as adaptive bitrate would
			continue
		}
		sz := size/2 + rand.N(size) // mean size, some spread
		m := transport.Message{Kind: transport.KindData, Track: transport.TrackHeartbeat, Time: time.Now(), Payload: payload[:sz]}
		mu.Lock()
		seq, err := c.Send(m)
		if err == nil {
			sent[seq] = time.Now()
		}
		mu.Unlock()
		if err != nil {
			return nil, 0, 0, err
		}
		msgs++
		bytes += float64(sz)
	}
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := c.Finish(fctx); err != nil {
		return nil, 0, 0, err
	}
	mu.Lock()
	defer mu.Unlock()
	return lat, msgs, bytes, nil
}

func configKeyOf(j *transport.JoinResponse) (string, error) {
	var s policy.Signed
	if err := json.Unmarshal(j.Policy, &s); err != nil {
		return "", err
	}
	return policy.ConfigKey(s.Policy)
}
