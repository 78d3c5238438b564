package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

// The load generator (-role load) runs in its own process: n protocol
// clients that join, stream the default policy's message mix over the
// websocket and keep every unacked message in memory, resending it after a
// reconnect as the protocol says (a spool that costs nothing, so that the
// load process measures the backend, not the clients' disks).

// loadReport is what the load process hands to the coordinator (JSON).
type loadReport struct {
	Offered     int64   `json:"offered"`       // messages created while streaming
	AckedInTime int64   `json:"acked_in_time"` // of which acked before streaming ended
	Bytes       int64   `json:"bytes"`         // payload bytes created
	Seconds     float64 `json:"seconds"`       // streaming time
	LatencyUS   []int64 `json:"latency_us"`    // p50, p95, p99, max of capture → ack
	// Windows is the latency by when messages were captured, per
	// windowLength of streaming: the start (every client connecting in
	// the same second) apart from the steady state.
	Windows []latencyWindow `json:"windows"`
	// ConnectedMS is how long after the start the clients' first
	// welcome arrived: p50, p95, max (ms).
	ConnectedMS []int64          `json:"connected_ms"`
	Reconnects  int64            `json:"reconnects"`
	Sessions    []sessionOutcome `json:"sessions"`
	Errors      []string         `json:"errors,omitempty"`
}

// sessionOutcome is what one client sent, to compare with what the
// backend stored.
type sessionOutcome struct {
	ID       string           `json:"id"`
	LastSeq  uint64           `json:"last_seq"`
	Digest   string           `json:"digest"`   // the client's chain over everything it sent
	Finished string           `json:"finished"` // the digest in the backend's finished answer
	Tracks   map[uint8]uint64 `json:"tracks"`   // messages per track
}

// latencyWindow is the ack latency of the messages captured in one
// window of the streaming time.
type latencyWindow struct {
	FromS     int     `json:"from_s"`
	Messages  int     `json:"messages"`
	LatencyUS []int64 `json:"latency_us"` // p50, p95, p99
}

// windowLength is latencyWindow's length.
const windowLength = 5 * time.Second

// percentiles returns the given percentiles of sorted (0 for none).
func percentiles(sorted []int64, ps ...float64) []int64 {
	out := make([]int64, len(ps))
	for i, p := range ps {
		if len(sorted) > 0 {
			out[i] = sorted[min(len(sorted)-1, int(float64(len(sorted))*p/100))]
		}
	}
	return out
}

type loadConfig struct {
	server, code string
	clients      int
	duration     time.Duration
	media        *media
	start        time.Time // when streaming starts (all clients joined)
}

func runLoad(cfg loadConfig) (*loadReport, error) {
	ctx := context.Background()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 60 * time.Second}
	cs := make([]*simClient, cfg.clients)
	// Join everyone first (an exam starts with a crowd joining), a few at a time.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make([]error, cfg.clients)
	for i := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			j, err := transport.Join(ctx, hc, cfg.server, transport.JoinRequest{Code: cfg.code, Client: transport.ClientInfo{App: "invigil-bench", Version: "1.0.0", OS: "linux", Arch: "amd64"}})
			if err != nil {
				errs[i] = fmt.Errorf("join: %w", err)
				return
			}
			var s policy.Signed
			if err := json.Unmarshal(j.Policy, &s); err != nil {
				errs[i] = err
				return
			}
			ck, err := policy.ConfigKey(s.Policy)
			if err != nil {
				errs[i] = err
				return
			}
			cs[i] = newSimClient(j, ck, cfg.media, i)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	start := time.Now()
	end := start.Add(cfg.duration)
	for _, c := range cs {
		c.start = start
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(end)
		}()
	}
	// Count what was acked when streaming ended.
	time.Sleep(time.Until(end))
	rep := &loadReport{Seconds: cfg.duration.Seconds()}
	for _, c := range cs {
		c.mu.Lock()
		rep.AckedInTime += int64(c.acked)
		c.mu.Unlock()
	}
	wg.Wait()
	var lat, connected []int64
	windows := map[int][]int64{}
	for _, c := range cs {
		rep.Offered += int64(c.next - 1)
		rep.Bytes += c.bytes
		rep.Reconnects += c.reconnects
		lat = append(lat, c.lat...)
		for i, w := range c.latWin {
			windows[int(w)] = append(windows[int(w)], c.lat[i])
		}
		connected = append(connected, c.welcomed.Sub(start).Milliseconds())
		rep.Sessions = append(rep.Sessions, sessionOutcome{ID: c.j.SessionID, LastSeq: c.next - 1,
			Digest: hex.EncodeToString(c.digest[:]), Finished: c.finished, Tracks: c.perTrack})
		if c.err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", c.j.SessionID, c.err))
		}
	}
	slices.Sort(lat)
	rep.LatencyUS = percentiles(lat, 50, 95, 99, 100)
	for _, w := range slices.Sorted(maps.Keys(windows)) {
		if time.Duration(w)*windowLength >= cfg.duration {
			continue // the drain after streaming ended
		}
		l := windows[w]
		slices.Sort(l)
		rep.Windows = append(rep.Windows, latencyWindow{FromS: int(time.Duration(w) * windowLength / time.Second), Messages: len(l), LatencyUS: percentiles(l, 50, 95, 99)})
	}
	slices.Sort(connected)
	rep.ConnectedMS = percentiles(connected, 50, 95, 100)
	return rep, nil
}

// simClient is one simulated student.
type simClient struct {
	j         *transport.JoinResponse
	configKey string
	m         *media
	rng       *rand.Rand
	camAt     int // next camera access unit
	scrAt     int

	mu          sync.Mutex
	wake        chan struct{} // holds a token when a message was queued, or acked once everything is produced (see poke)
	producedAll bool
	queue       []pending // unacked messages, queue[i].seq = acked+1+i
	free        [][]byte  // acked messages' buffers, for the next ones (a fresh buffer per message was an eighth of the load process, page faults)
	next        uint64    // seq of the next message
	acked       uint64
	digest      [32]byte // chain through next-1
	perTrack    map[uint8]uint64
	bytes       int64
	start       time.Time // when streaming started, for latWin
	lat         []int64   // capture → ack, µs
	latWin      []uint16  // lat[i]'s window of capture time (windowLength from start)
	welcomed    time.Time // the first welcome

	finished   string // the digest of the backend's finished answer ("" if it was lost)
	sentFinish bool
	reconnects int64
	err        error
}

type pending struct {
	frame []byte
	at    time.Time
}

func newSimClient(j *transport.JoinResponse, ck string, m *media, i int) *simClient {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	return &simClient{j: j, configKey: ck, m: m, rng: rng, next: 1, wake: make(chan struct{}, 1),
		camAt: rng.IntN(len(m.camera)/cameraKeyint) * cameraKeyint, // start on a keyframe
		scrAt: rng.IntN(len(m.screen)/screenKeyint) * screenKeyint, perTrack: map[uint8]uint64{}}
}

// add appends a message to the in-memory spool.
func (c *simClient) add(kind transport.Kind, flags transport.Flags, track uint8, payload []byte) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	f := transport.AppendFrame(c.buffer(transport.HeaderSize+len(payload)), transport.Header{Kind: kind, Flags: flags, Track: track, Seq: c.next, Time: now}, payload)
	c.digest = transport.Chain(c.digest, f)
	c.queue = append(c.queue, pending{frame: f, at: now})
	c.next++
	c.perTrack[track]++
	c.bytes += int64(len(payload))
	c.poke()
}

// poke wakes the sender, or leaves it a token if it is busy: a sender
// that finds nothing to send waits again (a channel closed and made per
// message was 4 % of the load process).
func (c *simClient) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// maxFree bounds a client's free buffers.
const maxFree = 32

// buffer returns an empty buffer for n bytes, an acked message's if one
// is big enough. The caller holds c.mu.
func (c *simClient) buffer(n int) []byte {
	for i := len(c.free) - 1; i >= 0; i-- {
		if b := c.free[i]; cap(b) >= n {
			c.free[i] = c.free[len(c.free)-1]
			c.free[len(c.free)-1] = nil
			c.free = c.free[:len(c.free)-1]
			return b[:0]
		}
	}
	return make([]byte, 0, max(n, 2<<10))
}

func (c *simClient) ack(seq uint64) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.acked < seq && len(c.queue) > 0 {
		c.lat = append(c.lat, now.Sub(c.queue[0].at).Microseconds())
		// A window number, not the capture time: a time.Time holds a
		// pointer, and 15 million of them (1,000 sessions for 15
		// minutes) are 360 MB for the load process's GC to mark.
		c.latWin = append(c.latWin, uint16(max(0, c.queue[0].at.Sub(c.start))/windowLength))
		if len(c.free) < maxFree {
			// The sender is done with it: the backend acks a message
			// only once it has all of it, and gorilla copies a
			// client's message into its write buffer to mask it.
			c.free = append(c.free, c.queue[0].frame)
		}
		c.queue[0] = pending{}
		c.queue = c.queue[1:]
		c.acked++
	}
	// The sender needs acks only to finish: while producing, waking it
	// for each would cost the load process a goroutine switch per ack.
	if c.producedAll {
		c.poke()
	}
}

// produce creates the default policy's message mix until end: camera at
// 15 fps, screen at 1 fps, a heartbeat a second, an event every ~10 s,
// and stills (an ID photo and two room-scan shots in the first 15 s, a
// proctor's snapshot every ~2 min).
func (c *simClient) produce(end time.Time) {
	// Spread the clients' ticks over the frame interval.
	time.Sleep(time.Duration(c.rng.Int64N(int64(time.Second / cameraFPS))))
	tick := time.NewTicker(time.Second / cameraFPS)
	defer tick.Stop()
	c.event("exam.started")
	// The ID photo and two room-scan shots, in the first seconds.
	stillAt := []int{c.rng.IntN(5 * cameraFPS), c.rng.IntN(5*cameraFPS) + 5*cameraFPS, c.rng.IntN(5*cameraFPS) + 10*cameraFPS}
	n := c.rng.IntN(cameraFPS)
	for i, now := 0, time.Now(); now.Before(end); i, now = i+1, <-tick.C {
		if len(stillAt) > 0 && i >= stillAt[0] {
			stillAt = stillAt[1:]
			c.add(transport.KindStill, 0, transport.TrackStills, c.m.still)
		}
		au := c.m.camera[c.camAt%len(c.m.camera)]
		c.camAt++
		c.add(transport.KindMedia, kf(au), transport.TrackCamera, au.data)
		n++
		if n%cameraFPS == 0 {
			au := c.m.screen[c.scrAt%len(c.m.screen)]
			c.scrAt++
			c.add(transport.KindMedia, kf(au), transport.TrackScreen, au.data)
		}
		if n%cameraFPS == cameraFPS/2 {
			c.add(transport.KindData, 0, transport.TrackHeartbeat, heartbeat(uint64(n/cameraFPS)))
		}
		if c.rng.IntN(10*cameraFPS) == 0 {
			c.event("focus.lost")
		}
		if c.rng.IntN(120*cameraFPS) == 0 {
			c.add(transport.KindStill, 0, transport.TrackStills, c.m.still)
		}
	}
	c.event("session.finished")
}

func kf(au accessUnit) transport.Flags {
	if au.keyframe {
		return transport.FlagKeyframe
	}
	return 0
}

func heartbeat(n uint64) []byte {
	b := make([]byte, 64)
	copy(b, fmt.Sprintf("heartbeat %d", n))
	return b
}

func (c *simClient) event(typ string) {
	b, _ := json.Marshal(map[string]any{"type": typ, "at": time.Now().UTC()})
	c.add(transport.KindEvent, 0, transport.TrackEvents, b)
}

// run streams until end and then until everything is acked and finished,
// reconnecting with backoff as often as it takes.
func (c *simClient) run(end time.Time) {
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		c.produce(end)
		c.mu.Lock()
		c.producedAll = true
		c.mu.Unlock()
	}()
	deadline := end.Add(5 * time.Minute)
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		before := c.acked
		c.mu.Unlock()
		done, err := c.connection(produced)
		if done {
			return
		}
		c.mu.Lock()
		if c.acked > before {
			attempt = 0 // the protocol resets the backoff once a connection got an ack
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			c.mu.Lock()
			c.err = fmt.Errorf("gave up draining: %v", err)
			c.mu.Unlock()
			<-produced
			return
		}
		c.reconnects++
		// Backoff as the protocol says: 250 ms doubling to 30 s, full jitter.
		d := min(250*time.Millisecond<<min(attempt, 7), 30*time.Second)
		time.Sleep(time.Duration(c.rng.Int64N(int64(d))))
	}
}

// connection runs one websocket connection; done when the session is
// finished.
func (c *simClient) connection(produced <-chan struct{}) (done bool, err error) {
	h := http.Header{"Authorization": {"Bearer " + c.j.Token}}
	d := websocket.Dialer{Subprotocols: []string{"invigil.v1"}, HandshakeTimeout: 30 * time.Second, WriteBufferSize: 64 << 10}
	conn, resp, err := d.Dial(c.j.WSURL, h)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusGone && c.sentFinish {
			return true, nil // finished; the finished answer was lost with the connection
		}
		if resp != nil {
			err = fmt.Errorf("%w: HTTP %d", err, resp.StatusCode)
		}
		return false, err
	}
	defer conn.Close()
	c.mu.Lock()
	next := c.next
	c.mu.Unlock()
	if err := conn.WriteJSON(transport.Control{Type: "hello", Protocol: 1, SessionID: c.j.SessionID, ConfigKey: c.configKey, NextSeq: next}); err != nil {
		return false, err
	}
	var w transport.Control
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := conn.ReadJSON(&w); err != nil {
		return false, err
	}
	conn.SetReadDeadline(time.Time{})
	if w.Type != "welcome" {
		if w.Type == "error" {
			return false, fmt.Errorf("refused: %s", w.Code)
		}
		return false, fmt.Errorf("got %q instead of welcome", w.Type)
	}
	c.ack(w.LastAck)
	c.mu.Lock()
	if c.welcomed.IsZero() {
		c.welcomed = time.Now()
	}
	if w.LastAck != c.acked {
		c.mu.Unlock()
		return false, fmt.Errorf("welcome says last_ack %d, the client has acks through %d", w.LastAck, c.acked)
	}
	c.mu.Unlock()

	finished := make(chan string, 1)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			// Most messages are acks: parsed without encoding/json (a
			// decoder per message was a tenth of the load process).
			if seq, ok := parseAck(b); ok {
				c.ack(seq)
				continue
			}
			var m transport.Control
			if err := json.Unmarshal(b, &m); err != nil {
				readErr <- err
				return
			}
			switch m.Type {
			case "ack":
				c.ack(m.Seq)
			case "finished":
				finished <- m.Digest
			case "command":
				// The bench's exam has no proctor; nothing to do.
			}
		}
	}()

	ckEvery := time.Duration(w.CheckpointMS) * time.Millisecond
	var lastCk uint64
	var ckAt time.Time
	checkpoint := func(force bool) error {
		if ckEvery <= 0 {
			return nil
		}
		c.mu.Lock()
		seq, dg := c.next-1, c.digest
		c.mu.Unlock()
		if seq == 0 || seq == lastCk || (!force && time.Since(ckAt) < ckEvery) {
			return nil
		}
		lastCk, ckAt = seq, time.Now()
		return conn.WriteJSON(transport.Control{Type: "checkpoint", Seq: seq, Digest: hex.EncodeToString(dg[:])})
	}
	if err := checkpoint(true); err != nil {
		return false, err
	}
	idle := time.NewTimer(time.Second)
	defer idle.Stop()
	pos := w.LastAck + 1 // next seq to write
	finishSent := false  // on this connection (c.sentFinish: on any)
	for {
		c.mu.Lock()
		var f []byte
		if pos <= c.acked {
			pos = c.acked + 1
		}
		if i := int(pos - c.acked - 1); i < len(c.queue) {
			f = c.queue[i].frame
		}
		allAcked := c.acked == c.next-1
		c.mu.Unlock()
		if f != nil {
			if err := checkpoint(false); err != nil {
				return false, err
			}
			if err := conn.WriteMessage(websocket.BinaryMessage, f); err != nil {
				return false, err
			}
			pos++
			continue
		}
		select {
		case <-produced:
			if allAcked && !finishSent {
				if err := checkpoint(true); err != nil {
					return false, err
				}
				c.mu.Lock()
				last := c.next - 1
				c.mu.Unlock()
				if err := conn.WriteJSON(transport.Control{Type: "finish", LastSeq: last}); err != nil {
					return false, err
				}
				finishSent, c.sentFinish = true, true
			}
		default:
		}
		idle.Reset(time.Second)
		select {
		case <-c.wake:
		case <-idle.C:
		case dg := <-finished:
			c.mu.Lock()
			c.finished = dg
			c.mu.Unlock()
			return true, nil
		case err := <-readErr:
			if c.sentFinish {
				var ce *websocket.CloseError
				if errors.As(err, &ce) && ce.Code == 4410 {
					return true, nil // finished; the answer was lost
				}
			}
			return false, err
		}
	}
}

// parseAck parses an ack as the reference backend writes it,
// {"type":"ack","seq":N}; anything else is not ok.
func parseAck(b []byte) (uint64, bool) {
	const prefix = `{"type":"ack","seq":`
	if !bytes.HasPrefix(b, []byte(prefix)) || !bytes.HasSuffix(b, []byte("}")) {
		return 0, false
	}
	seq, err := strconv.ParseUint(string(b[len(prefix):len(b)-1]), 10, 64)
	return seq, err == nil
}

// loadMain is the entry point of -role load: it writes its report as JSON
// to out.
func loadMain(server, code string, clients int, dur time.Duration, out string) error {
	dir, err := os.MkdirTemp("", "invigil-bench-media")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	m, err := encodeMedia(dir)
	if err != nil {
		return err
	}
	rep, err := runLoad(loadConfig{server: server, code: code, clients: clients, duration: dur, media: m})
	if err != nil {
		return err
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o600)
}
