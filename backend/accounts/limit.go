package accounts

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Rate is a token bucket: Burst attempts at once, then one more every
// Every.
type Rate struct {
	Burst int
	Every time.Duration
}

// Default login rate limits. Every attempt, good or bad, takes a token
// from both the account's bucket and the source address's bucket.
var (
	// DefaultAccountLimit: 5 attempts, then one a minute (at most ~1440
	// guesses a day against one account from anywhere).
	DefaultAccountLimit = Rate{Burst: 5, Every: time.Minute}
	// DefaultIPLimit: 20 attempts, then one every 6 s, per source address
	// (IPv6: per /64). A lab behind one NAT address shares it: 20 people
	// logging in at once is fine.
	DefaultIPLimit = Rate{Burst: 20, Every: 6 * time.Second}
)

// maxLimiterKeys bounds each limiter's memory (~100 bytes a key).
const maxLimiterKeys = 10000

type bucket struct {
	tokens float64
	last   time.Time
}

// limiter is a set of token buckets with bounded memory: when full it
// forgets buckets that have refilled (they carry no information), then
// the least recently used.
type limiter struct {
	rate Rate
	max  int

	mu sync.Mutex
	m  map[string]*bucket
}

func newLimiter(r Rate, maxKeys int) *limiter {
	return &limiter{rate: r, max: maxKeys, m: map[string]*bucket{}}
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(float64(l.rate.Burst), b.tokens+float64(el)/float64(l.rate.Every))
		b.last = now
	}
}

// allow takes a token from key's bucket. When there is none it reports how
// long until there is.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[key]
	if !ok {
		if len(l.m) >= l.max {
			l.evict(now)
		}
		b = &bucket{tokens: float64(l.rate.Burst), last: now}
		l.m[key] = b
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) * float64(l.rate.Every))
	return false, wait
}

func (l *limiter) evict(now time.Time) {
	var oldKey string
	var oldest time.Time
	for k, b := range l.m {
		l.refill(b, now)
		if b.tokens >= float64(l.rate.Burst) {
			delete(l.m, k)
			continue
		}
		if oldKey == "" || b.last.Before(oldest) {
			oldKey, oldest = k, b.last
		}
	}
	if len(l.m) >= l.max && oldKey != "" {
		delete(l.m, oldKey)
	}
}

func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// ipKey is the rate-limit key of a remote address: the IPv4 address, or
// the /64 an IPv6 address is in (one host usually has a whole /64).
func ipKey(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	var a netip.Addr
	if err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(remoteAddr); err != nil {
		return remoteAddr
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func accountKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }
