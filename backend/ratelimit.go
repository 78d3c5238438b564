package backend

import (
	"container/list"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// RateLimit is a token bucket: Burst requests at once, then Rate per second.
type RateLimit struct {
	Rate  float64 // tokens per second
	Burst int     // bucket size
}

// RateLimits are the limits of the unauthenticated and session-token entry
// points (docs/protocol.md §1 "Rate limits"). A zero field takes its
// default; Off turns every limit off (tests, benchmarks).
type RateLimits struct {
	Off bool
	// JoinPerSource bounds joins from one source address (an IPv4 address
	// or an IPv6 /64). A lab behind one NAT address joins through it: the
	// default (burst 100, 10/s) admits 100 students at once and 600 a minute.
	JoinPerSource RateLimit
	// JoinPerCode bounds the sessions created for one join code from all
	// sources together (default burst 500, 50/s).
	JoinPerCode RateLimit
	// ResumePerSource bounds resumes from one source (default burst 100, 10/s).
	ResumePerSource RateLimit
	// ResumePerSession bounds resumes of one session (default burst 10, 1/s).
	ResumePerSession RateLimit
	// FailPerSource bounds the refusals one source may collect: unknown,
	// closed or not yet open join codes and unknown session tokens (default
	// burst 20, one per 5 s). This is what stops guessing codes.
	FailPerSource RateLimit
	// MaxKeys bounds each limiter's table; the least recently used key is
	// forgotten first (default 65536).
	MaxKeys int
}

func (l RateLimits) withDefaults() RateLimits {
	def := func(r *RateLimit, rate float64, burst int) {
		if r.Rate <= 0 {
			r.Rate = rate
		}
		if r.Burst <= 0 {
			r.Burst = burst
		}
	}
	def(&l.JoinPerSource, 10, 100)
	def(&l.JoinPerCode, 50, 500)
	def(&l.ResumePerSource, 10, 100)
	def(&l.ResumePerSession, 1, 10)
	def(&l.FailPerSource, 0.2, 20)
	if l.MaxKeys <= 0 {
		l.MaxKeys = 1 << 16
	}
	return l
}

// limiter is a table of token buckets keyed by string, bounded in size.
type limiter struct {
	lim RateLimit
	max int
	now func() time.Time

	mu   sync.Mutex
	keys map[string]*list.Element
	lru  list.List // front: most recently used; values are *bucket
}

type bucket struct {
	key    string
	tokens float64
	at     time.Time
}

func newLimiter(lim RateLimit, max int, now func() time.Time) *limiter {
	return &limiter{lim: lim, max: max, now: now, keys: map[string]*list.Element{}}
}

// get returns key's bucket refilled to now, creating a full one.
func (l *limiter) get(key string) *bucket {
	now := l.now()
	if e, ok := l.keys[key]; ok {
		l.lru.MoveToFront(e)
		b := e.Value.(*bucket)
		if dt := now.Sub(b.at).Seconds(); dt > 0 {
			b.tokens = math.Min(float64(l.lim.Burst), b.tokens+dt*l.lim.Rate)
		}
		b.at = now
		return b
	}
	for len(l.keys) >= l.max {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.keys, old.Value.(*bucket).key)
	}
	b := &bucket{key: key, tokens: float64(l.lim.Burst), at: now}
	l.keys[key] = l.lru.PushFront(b)
	return b
}

// wait is how long until b holds one token.
func (l *limiter) wait(b *bucket) time.Duration {
	return time.Duration((1 - b.tokens) / l.lim.Rate * float64(time.Second))
}

// allow takes a token from key's bucket; if there is none it says how long
// until there will be one.
func (l *limiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key)
	if b.tokens < 1 {
		return false, l.wait(b)
	}
	b.tokens--
	return true, 0
}

// check says whether key's bucket holds a token, without taking it.
func (l *limiter) check(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key)
	if b.tokens < 1 {
		return false, l.wait(b)
	}
	return true, 0
}

// take takes a token from key's bucket, going into debt at most to zero.
func (l *limiter) take(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(key)
	b.tokens = math.Max(0, b.tokens-1)
}

// size is the number of keys held.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// limiters are the backend's rate limiters.
type limiters struct {
	off                                bool
	joinSource, joinCode               *limiter
	resumeSource, resumeSession, fails *limiter
}

func newLimiters(l RateLimits, now func() time.Time) *limiters {
	l = l.withDefaults()
	return &limiters{
		off:           l.Off,
		joinSource:    newLimiter(l.JoinPerSource, l.MaxKeys, now),
		joinCode:      newLimiter(l.JoinPerCode, l.MaxKeys, now),
		resumeSource:  newLimiter(l.ResumePerSource, l.MaxKeys, now),
		resumeSession: newLimiter(l.ResumePerSession, l.MaxKeys, now),
		fails:         newLimiter(l.FailPerSource, l.MaxKeys, now),
	}
}

// sourceKey is the rate-limiting key of a request's source: its IPv4
// address or its IPv6 /64 (one host usually holds a whole /64). Behind one
// of trusted (a reverse proxy), the source is the right-most address of
// X-Forwarded-For that is not itself a trusted proxy.
func sourceKey(r *http.Request, trusted []netip.Prefix) string {
	addr := clientAddr(r, trusted)
	if !addr.IsValid() {
		return r.RemoteAddr
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// clientAddr is the address of a request's client: its remote address or,
// behind one of trusted (a reverse proxy), the right-most address of
// X-Forwarded-For that is not itself a trusted proxy. Invalid when the
// remote address is not an IP address.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	addr := remoteAddr(r.RemoteAddr)
	if addr.IsValid() && inPrefixes(addr, trusted) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			addr = a.Unmap()
			if !inPrefixes(addr, trusted) {
				break
			}
		}
	}
	return addr
}

func remoteAddr(s string) netip.Addr {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
