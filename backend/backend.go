package backend

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// Config configures a backend. DataDir is required.
type Config struct {
	DataDir string
	// Heartbeat is the ping interval clients are told to use; a connection
	// silent for three of them is dead. Default 10 s.
	Heartbeat time.Duration
	Log       *slog.Logger
	Now       func() time.Time
	// BodyTimeout bounds the time to read a request body, from the end of
	// its headers (default 20 s). The network test's upload gets six times
	// as long. Websocket connections are not affected.
	BodyTimeout time.Duration
	// UploadGrace is how long after the exam closes, or after a proctor
	// ends the attempt, a session may still connect and upload what it had
	// captured (default 30 min). After that its token is refused.
	UploadGrace time.Duration
	// TokenLifetime bounds a session token of an exam without a closing
	// time, from the join (default 24 h).
	TokenLifetime time.Duration
	// Limits are the rate limits of join and resume.
	Limits RateLimits
	// TrustedProxies are reverse proxies whose X-Forwarded-For names the
	// client's address (for rate limits).
	TrustedProxies []netip.Prefix
	// DownloadURL is where students get the current client; a join refused
	// as client_outdated names it.
	DownloadURL string
}

// Backend is the reference backend: its store, keys and live connections.
// Open one per data directory; Handler serves its HTTP API.
type Backend struct {
	cfg   Config
	log   *slog.Logger
	db    *sql.DB
	tx    *committer
	key   ed25519.PrivateKey
	admin string

	ctx    context.Context // cancelled by Close: live connections end
	cancel context.CancelFunc
	conns  sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	limits *limiters

	mu      sync.Mutex
	closing bool
	gates   map[string]*sessionGate // one live connection per session
	cmdCh   map[string]chan struct{}

	live *liveHub // the dashboard's live relay (live.go)

	accessStmt *sql.Stmt // sessionAccess's query, prepared once (access.go)
}

// enter counts a live connection in, unless the backend is closing.
func (b *Backend) enter() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return false
	}
	b.conns.Add(1)
	return true
}

// Open opens the backend's data directory, creating what is missing: the
// directory, the SQLite store, the signing key and the admin token.
func Open(cfg Config) (*Backend, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("backend: no data directory")
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 20 * time.Second
	}
	if cfg.UploadGrace <= 0 {
		cfg.UploadGrace = 30 * time.Minute
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = 24 * time.Hour
	}
	if err := makePrivateDir(cfg.DataDir, cfg.Log); err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	key, err := loadOrCreateKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	admin, err := loadOrCreateAdminToken(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	db, err := openDB(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	tightenModes(cfg.DataDir, cfg.Log)
	// Every live connection runs it once a second: parsing it each time
	// cost more than running it.
	accessStmt, err := db.Prepare(accessQuery)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("backend: %w", err)
	}
	tx, err := newCommitter(db)
	if err != nil {
		accessStmt.Close()
		db.Close()
		return nil, fmt.Errorf("backend: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Backend{
		cfg: cfg, log: cfg.Log, db: db, tx: tx, key: key, admin: admin,
		ctx: ctx, cancel: cancel, limits: newLimiters(cfg.Limits, cfg.Now),
		gates: map[string]*sessionGate{}, cmdCh: map[string]chan struct{}{},
		accessStmt: accessStmt,
	}
	b.live = newLiveHub(b)
	b.conns.Go(func() { b.live.run(ctx) }) // Close waits for it
	return b, nil
}

// PublicKey is the key clients pin to verify policies, as `invigild key`
// prints it.
func (b *Backend) PublicKey() string {
	return policy.FormatPublicKey(b.key.Public().(ed25519.PublicKey))
}

// AdminToken is the bearer token of the admin API.
func (b *Backend) AdminToken() string { return b.admin }

// Close ends every live connection (clients hear "unavailable" and come
// back later), waits for their stores to finish and closes the database.
// Close is idempotent.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closing = true
		b.mu.Unlock()
		b.cancel()
		b.conns.Wait()
		b.tx.close()
		b.accessStmt.Close()
		b.closeErr = b.db.Close()
	})
	return b.closeErr
}

// PublicKeyOf reads the public key of the backend whose data is in dataDir
// without opening its database.
func PublicKeyOf(dataDir string) (string, error) {
	if err := makePrivateDir(dataDir, nil); err != nil {
		return "", err
	}
	key, err := loadOrCreateKey(dataDir)
	if err != nil {
		return "", err
	}
	return policy.FormatPublicKey(key.Public().(ed25519.PublicKey)), nil
}
