package backend

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/invigil/invigil/transport"
)

// The live relay (docs/dashboard.md "Live"): every stored camera and screen
// access unit is handed to the dashboard's viewers of that session, after
// it is durable (ingest.go calls publish after the commit). Ingest never
// waits for a viewer: each viewer has a bounded queue, and a viewer whose
// queue is full misses frames until the next keyframe. Each feed keeps its
// last keyframe, so a viewer who arrives late sees a picture at once; a
// feed watched in the last liveWatchedFor also keeps the frames after it
// (one GOP), so its next viewer plays on from there at once. A big view of
// a feed with the keyframe alone, or with nothing cached, makes the
// backend ask the client for a keyframe (the keyframe command,
// docs/protocol.md §2.5).

const (
	liveQueueFrames = 90       // per viewer: 6 s of camera at 15 fps
	liveQueueBytes  = 16 << 20 // per viewer
	liveGOPBytes    = 8 << 20  // a feed's cached GOP; beyond it the cache is dropped
	liveGOPFrames   = 900
	// liveCacheBytes bounds the GOPs of all sessions together: a feed
	// whose frame would exceed it drops its cache (its next viewer asks
	// for a keyframe).
	liveCacheBytes = 256 << 20
	// liveAskEvery bounds the keyframe requests per feed.
	liveAskEvery = 2 * time.Second
	// liveWatchedFor is how long after a viewer came or went a feed keeps
	// whole GOPs. Other feeds keep their keyframe alone: at 1,000
	// sessions, whole GOPs of feeds nobody watched were 100 MB of the
	// backend's memory and 7 % of its CPU (copies, page faults).
	liveWatchedFor = 10 * time.Minute
)

// liveTracks are the tracks the relay carries, in feed order.
var liveTracks = [2]uint8{transport.TrackCamera, transport.TrackScreen}

func liveFeedIndex(track uint8) int {
	for i, t := range liveTracks {
		if t == track {
			return i
		}
	}
	return -1
}

// liveFrame is one relayed access unit (Annex-B, as the client sent it).
type liveFrame struct {
	key  bool
	seq  uint64
	time int64 // capture time, unix µs
	data []byte
}

type liveViewer struct {
	ch      chan liveFrame
	bytes   atomic.Int64 // queued payload bytes; the writer takes off what it sent
	waitKey bool         // dropping until the next keyframe
	dropped int64
}

// offer queues f unless the viewer is behind.
func (v *liveViewer) offer(f liveFrame) bool {
	if v.bytes.Load()+int64(len(f.data)) > liveQueueBytes {
		return false
	}
	select {
	case v.ch <- f:
		v.bytes.Add(int64(len(f.data)))
		return true
	default:
		return false
	}
}

// take is the writer's side of offer.
func (v *liveViewer) taken(f liveFrame) { v.bytes.Add(-int64(len(f.data))) }

type liveFeed struct {
	gop      []liveFrame // from a keyframe on; empty: none cached
	gopBytes int         // their payload bytes
	// partial: gop is the keyframe alone, the frames after it were not
	// kept (nobody watched); a viewer cannot play on from it.
	partial bool
	watched time.Time // until then the feed keeps whole GOPs (liveWatchedFor)
	// arena holds the cached frames' bytes back to back, in gop's order.
	// The ingest publishes the connection's read buffers, which transport
	// reuses once stored, so the cache copies; one arena per feed, reused
	// from one GOP to the next, makes that copy cost no allocation in the
	// steady state. Once a viewer holds frames of it (shared), it is never
	// written over: the next GOP starts a new one.
	arena   []byte
	shared  bool
	viewers map[*liveViewer]struct{}
	lastAsk time.Time
}

// liveState is what the hub knows of one session.
type liveState struct {
	conns      int  // client connections that passed hello
	keyframeOK bool // the latest connection's hello lists the keyframe command
	feeds      [2]liveFeed
	// delivered: when a command was first handed to a live connection.
	delivered map[string]time.Time
}

// liveHub is the backend's relay. Its methods are safe for concurrent use.
type liveHub struct {
	b      *Backend
	mu     sync.Mutex
	sess   map[string]*liveState
	cached int64                // bytes of all feeds' arenas (their capacity)
	budget int64                // bound of cached: liveCacheBytes
	asks   chan liveAsk         // keyframe requests, written to the store by run
	views  map[string]time.Time // user|session|track → last audited view
}

// liveViewAudit is how often one user's views of one track are audited: a
// proctor scrolling the grid opens and closes tiles all the time.
const liveViewAudit = 10 * time.Minute

// firstView reports whether a view of key must be audited: the first in
// liveViewAudit. It forgets views older than that.
func (h *liveHub) firstView(key string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.views[key]; ok && now.Sub(t) < liveViewAudit && !now.Before(t) {
		return false
	}
	if len(h.views) > 10000 {
		for k, t := range h.views {
			if now.Sub(t) >= liveViewAudit || now.Before(t) {
				delete(h.views, k)
			}
		}
	}
	h.views[key] = now
	return true
}

// forgetView undoes firstView when the audit failed.
func (h *liveHub) forgetView(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.views, key)
}

type liveAsk struct {
	session string
	track   uint8
}

func newLiveHub(b *Backend) *liveHub {
	return &liveHub{b: b, sess: map[string]*liveState{}, budget: liveCacheBytes, asks: make(chan liveAsk, 256), views: map[string]time.Time{}}
}

func (h *liveHub) state(id string) *liveState {
	st, ok := h.sess[id]
	if !ok {
		st = &liveState{delivered: map[string]time.Time{}}
		h.sess[id] = st
	}
	return st
}

// forget drops a session's state when nothing refers to it any more.
func (h *liveHub) forget(id string, st *liveState) {
	if st.conns > 0 {
		return
	}
	for i := range st.feeds {
		if len(st.feeds[i].viewers) > 0 {
			return
		}
	}
	for i := range st.feeds {
		h.dropGOP(&st.feeds[i], false)
	}
	delete(h.sess, id)
}

// publish relays a stored batch of one track. Called by the ingest after
// the batch is durable; it never blocks.
func (h *liveHub) publish(session string, track uint8, frames []transport.Frame) {
	i := liveFeedIndex(track)
	if i < 0 || len(frames) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.sess[session]
	if !ok {
		return // no connection counted in (a test driving Store directly)
	}
	f := &st.feeds[i]
	whole := len(f.viewers) > 0 || time.Now().Before(f.watched)
	for _, fr := range frames {
		lf := liveFrame{key: fr.Flags&transport.FlagKeyframe != 0, seq: fr.Seq, time: fr.Time.UnixMicro()}
		if lf.key {
			h.dropGOP(f, true)
		}
		inArena := false
		switch {
		case !lf.key && (len(f.gop) == 0 || f.partial):
			// No GOP this frame could extend: it is not cached.
		case !lf.key && !whole:
			f.partial = true // the keyframe stays; what follows it is not kept
		default:
			if lf.data, inArena = h.cache(f, fr.Payload); inArena {
				f.gop = append(f.gop, lf)
			} else {
				h.dropGOP(f, true)
			}
		}
		if len(f.viewers) == 0 {
			continue
		}
		if !inArena {
			lf.data = bytes.Clone(fr.Payload) // fr's bytes are transport's again once Store returns
		}
		for v := range f.viewers {
			if v.waitKey && !lf.key {
				v.dropped++
				continue
			}
			if v.offer(lf) {
				v.waitKey = false
				f.shared = f.shared || inArena
			} else {
				v.dropped++
				v.waitKey = true
				h.askLocked(session, st, i)
			}
		}
	}
}

// dropGOP empties a feed's cache. keep: the arena stays for the next GOP
// unless a viewer holds part of it or the last GOP used less than a
// quarter of it (a large one made it grow; give that memory back).
func (h *liveHub) dropGOP(f *liveFeed, keep bool) {
	if keep && !f.shared && (cap(f.arena) <= liveArenaMin || 4*f.gopBytes >= cap(f.arena)) {
		f.arena = f.arena[:0]
	} else {
		h.cached -= int64(cap(f.arena))
		f.arena, f.shared = nil, false
	}
	clear(f.gop)
	f.gop, f.gopBytes, f.partial = f.gop[:0], 0, false
}

// liveArenaMin is a new arena's size: a camera GOP at the default rate.
const liveArenaMin = 64 << 10

// cache copies p to the end of f's arena and returns the copy, or false if
// the GOP would go over a bound (the caller drops it).
func (h *liveHub) cache(f *liveFeed, p []byte) ([]byte, bool) {
	if f.gopBytes+len(p) > liveGOPBytes || len(f.gop) >= liveGOPFrames {
		return nil, false
	}
	if need := len(f.arena) + len(p); need > cap(f.arena) {
		n := max(liveArenaMin, need+need/4) // a quarter more each time: few copies, little slack
		if h.cached+int64(n-cap(f.arena)) > h.budget {
			return nil, false
		}
		// The cached frames move to the new arena; a viewer's copies
		// keep the old one alive, unchanged, so the new one is not shared.
		na := append(make([]byte, 0, n), f.arena...)
		off := 0
		for i := range f.gop {
			l := len(f.gop[i].data)
			f.gop[i].data = na[off : off+l : off+l]
			off += l
		}
		h.cached += int64(n - cap(f.arena))
		f.arena, f.shared = na, false
	}
	off := len(f.arena)
	f.arena = append(f.arena, p...)
	f.gopBytes += len(p)
	return f.arena[off:len(f.arena):len(f.arena)], true
}

// askLocked queues a keyframe request for feed i, at most one per
// liveAskEvery, and only to a connected client that understands it.
func (h *liveHub) askLocked(session string, st *liveState, i int) {
	f := &st.feeds[i]
	now := time.Now()
	if st.conns == 0 || !st.keyframeOK || now.Sub(f.lastAsk) < liveAskEvery {
		return
	}
	f.lastAsk = now
	select {
	case h.asks <- liveAsk{session, liveTracks[i]}:
	default:
	}
}

// subscribe adds a viewer of a session's track. Its queue starts with the
// cached GOP (keyOnly, or a feed that kept its keyframe alone: only the
// keyframe, then nothing until the next keyframe: a picture at once for a
// small tile, without decoding the whole GOP); a big view without a whole
// GOP asks the client for a keyframe. From then until liveWatchedFor after
// cancel, which removes the viewer, the feed keeps whole GOPs.
func (h *liveHub) subscribe(session string, track uint8, keyOnly bool) (v *liveViewer, cached int, cancel func()) {
	i := liveFeedIndex(track)
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.state(session)
	f := &st.feeds[i]
	f.watched = time.Now().Add(liveWatchedFor)
	v = &liveViewer{ch: make(chan liveFrame, liveQueueFrames+liveGOPFrames)}
	if len(f.gop) > 0 && (keyOnly || f.partial) {
		v.ch <- f.gop[0]
		v.bytes.Add(int64(len(f.gop[0].data)))
		v.waitKey = true
		cached = 1
		f.shared = true
		if !keyOnly {
			h.askLocked(session, st, i) // a big view plays on from the next keyframe
		}
	} else if len(f.gop) > 0 {
		// Only the GOP's tail fits: a viewer that cannot start from its
		// keyframe waits for the next one.
		if len(f.gop) <= cap(v.ch)-liveQueueFrames && f.gopBytes <= liveQueueBytes {
			for _, lf := range f.gop {
				v.ch <- lf
				v.bytes.Add(int64(len(lf.data)))
			}
			cached = len(f.gop)
			f.shared = true
		} else {
			v.waitKey = true
		}
	} else {
		v.waitKey = true
	}
	if cached == 0 {
		h.askLocked(session, st, i)
	}
	if f.viewers == nil {
		f.viewers = map[*liveViewer]struct{}{}
	}
	f.viewers[v] = struct{}{}
	return v, cached, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(f.viewers, v)
		f.watched = time.Now().Add(liveWatchedFor)
		h.forget(session, st)
	}
}

// run writes keyframe requests to the command store until the backend
// closes. The backend counts it in b.conns.
func (h *liveHub) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-h.asks:
			if err := h.b.requestKeyframe(ctx, a.session, transport.TrackName(a.track)); err != nil && ctx.Err() == nil {
				h.b.log.Info("live: keyframe request", "session", a.session, "err", err)
			}
		}
	}
}

// requestKeyframe queues a keyframe command unless one for the same track
// is still unacknowledged.
func (b *Backend) requestKeyframe(ctx context.Context, session, track string) error {
	var one int
	err := b.db.QueryRowContext(ctx, `SELECT 1 FROM commands WHERE session_id = ? AND command = ? AND text = ? AND acked_at IS NULL LIMIT 1`,
		session, transport.CommandKeyframe, track).Scan(&one)
	if err == nil {
		b.signalCommands(session) // resend on the live connection now
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	_, err = b.SendCommand(ctx, session, transport.CommandKeyframe, track)
	return err
}

// liveWatch is a client connection's session as the hub sees it: it counts
// the connection, learns from the hello whether the client understands the
// keyframe command, and notes when each command is handed to the
// connection. Everything else is the guarded session's.
type liveWatch struct {
	*guardedSession
	hub     *liveHub
	id      string
	helloed bool
	ok      bool // keyframe understood
}

func (h *liveHub) watch(id string, live *liveSession) *liveWatch {
	return &liveWatch{guardedSession: h.b.guard(live).(*guardedSession), hub: h, id: id}
}

// Hello implements transport.ServerSession.
func (w *liveWatch) Hello(ctx context.Context, hello *transport.Control) (uint64, string, error) {
	last, state, err := w.guardedSession.Hello(ctx, hello)
	if err != nil {
		return last, state, err
	}
	for _, c := range hello.Commands {
		if c == transport.CommandKeyframe {
			w.ok = true
		}
	}
	h := w.hub
	h.mu.Lock()
	st := h.state(w.id)
	st.conns++
	st.keyframeOK = w.ok
	w.helloed = true
	// A feed with viewers and nothing cached asks the new connection.
	for i := range st.feeds {
		if len(st.feeds[i].viewers) > 0 && len(st.feeds[i].gop) == 0 {
			st.feeds[i].lastAsk = time.Time{}
			h.askLocked(w.id, st, i)
		}
	}
	h.mu.Unlock()
	return last, state, nil
}

// Commands implements transport.ServerSession: a client that did not
// announce the keyframe command never gets one.
func (w *liveWatch) Commands() ([]transport.Control, <-chan struct{}) {
	cmds, ch := w.guardedSession.Commands()
	out := cmds[:0]
	now := w.hub.b.cfg.Now()
	w.hub.mu.Lock()
	st := w.hub.state(w.id)
	for _, c := range cmds {
		if c.Command == transport.CommandKeyframe && !w.ok {
			continue
		}
		if _, ok := st.delivered[c.ID]; !ok {
			st.delivered[c.ID] = now
		}
		out = append(out, c)
	}
	w.hub.mu.Unlock()
	return out, ch
}

// done counts the connection out.
func (w *liveWatch) done() {
	if !w.helloed {
		return
	}
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.state(w.id)
	st.conns--
	if st.conns == 0 {
		st.delivered = map[string]time.Time{}
	}
	h.forget(w.id, st)
}

// liveInfo is the hub's view of a session for the dashboard.
type liveInfo struct {
	connected  bool
	keyframeOK bool
	viewers    int
	delivered  map[string]time.Time
}

func (h *liveHub) info(id string) liveInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.sess[id]
	if !ok {
		return liveInfo{}
	}
	li := liveInfo{connected: st.conns > 0, keyframeOK: st.keyframeOK, delivered: map[string]time.Time{}}
	for i := range st.feeds {
		li.viewers += len(st.feeds[i].viewers)
	}
	for k, v := range st.delivered {
		li.delivered[k] = v
	}
	return li
}
