package backend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/invigil/invigil/backend/accounts"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// schemaVersion is bumped with every change to schema; open refuses a
// database from a newer build.
const schemaVersion = 1

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS exams (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	code       TEXT NOT NULL UNIQUE,
	policy     BLOB NOT NULL,  -- the signed envelope (JSON) handed out at join
	config_key TEXT NOT NULL,
	opens_at   INTEGER,        -- unix µs, NULL: always open
	closes_at  INTEGER,
	created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
	id            TEXT PRIMARY KEY,
	exam_id       TEXT NOT NULL REFERENCES exams(id),
	token_hash    BLOB NOT NULL UNIQUE,
	spool_key     BLOB NOT NULL,
	client        TEXT NOT NULL,  -- ClientInfo JSON
	state         TEXT NOT NULL,  -- active, paused, finished, ended
	end_requested INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	finished_at   INTEGER,
	last_seq      INTEGER NOT NULL DEFAULT 0,
	digest        BLOB NOT NULL,  -- SHA-256 chain over stored frames
	connections   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_exam ON sessions(exam_id);
CREATE TABLE IF NOT EXISTS tracks (
	session_id TEXT NOT NULL REFERENCES sessions(id),
	track      INTEGER NOT NULL,
	kind       TEXT NOT NULL,
	file       TEXT NOT NULL,     -- relative to the data dir; '' for events
	messages   INTEGER NOT NULL,
	bytes      INTEGER NOT NULL,  -- payload bytes
	first_seq  INTEGER NOT NULL,
	last_seq   INTEGER NOT NULL,
	first_time INTEGER NOT NULL,  -- capture time, unix µs
	last_time  INTEGER NOT NULL,
	state      BLOB,              -- the track writer's resume state (JSON)
	PRIMARY KEY (session_id, track)
);
CREATE TABLE IF NOT EXISTS events (
	session_id TEXT NOT NULL REFERENCES sessions(id),
	seq        INTEGER NOT NULL,
	time       INTEGER NOT NULL,  -- capture time, unix µs
	type       TEXT NOT NULL,
	body       TEXT NOT NULL,     -- the event JSON as the client sent it
	PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS commands (
	id         TEXT PRIMARY KEY,
	session_id TEXT NOT NULL REFERENCES sessions(id),
	command    TEXT NOT NULL,
	text       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	acked_at   INTEGER
);
CREATE INDEX IF NOT EXISTS commands_session ON commands(session_id, acked_at);
`

// openDB opens (creating) the SQLite database in dataDir. SQLite runs in WAL
// mode with synchronous=FULL: a commit is on disk when it returns, so an ack
// sent after it survives a crash or power cut. The CLI subcommands open the
// same file while the server runs; WAL lets them.
func openDB(dataDir string) (*sql.DB, error) {
	path := filepath.Join(dataDir, "invigil.db")
	// SQLite creates the database with the umask's mode and its -wal and
	// -shm files with the database's: create it 0600 first.
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := tighten(path, 0o600, nil); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// Reads run beside the committer's write transaction (WAL); with
	// a thousand sessions each checking its access once a second, a
	// small pool makes them queue for a connection.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := accounts.Migrate(ctx, db); err != nil { // the dashboard's users, sessions, audit log
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := migrateReview(ctx, db); err != nil { // review_store.go: outcomes, holds, notes, purges
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	var v int
	err = db.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema'`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = db.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('schema', ?)`, schemaVersion)
	case err == nil && v > schemaVersion:
		err = fmt.Errorf("database schema %d is newer than this invigild (%d)", v, schemaVersion)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return db, nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// committer batches the transactions of all sessions into one SQLite
// transaction (group commit): one fsync serves every waiting session.
type committer struct {
	db *sql.DB
	// conn is the committer's own connection: SQLite keeps its page cache
	// per connection and empties it when another connection wrote since,
	// so a pooled connection per batch read back most of what it updates.
	conn  *sql.Conn
	reqs  chan commitReq
	done  chan struct{}
	files fileSyncer // the track files' group flush (filesync.go)
	// flushFS flushes dir's file system: files.flush (a test replaces it).
	flushFS func(dir string) error

	mu     sync.RWMutex // held for reading while queueing, for writing by close
	closed bool

	stmtMu   sync.Mutex
	stmts    map[string]*sql.Stmt // prepared once: parsing SQL costs more than running it
	newStmts map[string]bool      // seen, not yet in stmts (stmt)
}

// maxCommitBatch bounds the requests one transaction serves: about one
// store of every session of a large exam, so one fsync covers them.
const maxCommitBatch = 1024

type commitReq struct {
	fn  func(*sql.Tx) error
	err chan error
	// flush, if set, is a directory whose file system must be flushed
	// (syncfs) before fn's changes commit: the track files it describes.
	flush string
}

// committerCacheKiB is the committer connection's page cache: the rows
// every batch updates (sessions, tracks: a few MiB for a thousand sessions)
// stay in it; the rest of a growing database need not.
const committerCacheKiB = 16 << 10

func newCommitter(db *sql.DB) (*committer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("committer connection: %w", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", committerCacheKiB)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("committer connection: %w", err)
	}
	c := &committer{db: db, conn: conn, reqs: make(chan commitReq, maxCommitBatch), done: make(chan struct{})}
	c.flushFS = c.files.flush
	go c.run()
	return c, nil
}

// do runs fn in a transaction shared with other concurrent callers and
// returns once it is committed. fn's changes are isolated from the others'
// by a savepoint: its error rolls back only its own.
func (c *committer) do(ctx context.Context, fn func(*sql.Tx) error) error {
	return c.doFlushed(ctx, "", fn)
}

// doFlushed is do for a request whose files under dir must be durable
// before its changes commit (canSyncFS only). The committer flushes the
// file system while it runs the batch's statements, and commits after the
// flush: a store waits for one queue, not for a flush and then a commit.
func (c *committer) doFlushed(ctx context.Context, dir string, fn func(*sql.Tx) error) error {
	done, err := c.queue(ctx, dir, fn)
	if err != nil {
		return err
	}
	// Once queued, wait for the outcome even if ctx ends: the caller must
	// know whether its data is committed.
	return <-done
}

// queue queues fn (see doFlushed) and returns where its outcome will be
// sent, without waiting for it. The committer commits requests in the
// order they were queued: a request queued later by the same goroutine
// is never committed before this one.
func (c *committer) queue(ctx context.Context, dir string, fn func(*sql.Tx) error) (<-chan error, error) {
	req := commitReq{fn: fn, err: make(chan error, 1), flush: dir}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, errStoreClosed
	}
	select {
	case c.reqs <- req:
		return req.err, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *committer) run() {
	for req := range c.reqs {
		batch := []commitReq{req}
	more:
		for len(batch) < maxCommitBatch {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		c.commit(batch)
	}
	close(c.done)
}

func (c *committer) commit(batch []commitReq) {
	c.prepareNew()
	// Most batches fail nowhere: run them without a savepoint per request
	// (three statements saved per request). A request's error rolls the
	// attempt back, and the batch runs again with savepoints, where that
	// error rolls back only its own request. Requests are idempotent
	// (they only run SQL), so running one twice is safe.
	flushed := c.startFlushes(batch)
	errs, err := c.attempt(batch, false, flushed)
	if errors.Is(err, errRetrySavepoints) {
		errs, err = c.attempt(batch, true, flushed)
	}
	for i, r := range batch {
		if err != nil {
			r.err <- err
		} else {
			r.err <- errs[i]
		}
	}
}

var errRetrySavepoints = errors.New("a request failed: run the batch with savepoints")

// startFlushes starts the file system flushes batch asks for and returns
// a function that waits for them (nil if none).
func (c *committer) startFlushes(batch []commitReq) func() error {
	var dirs []string
	for _, r := range batch {
		if r.flush != "" && !slices.Contains(dirs, r.flush) {
			dirs = append(dirs, r.flush)
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	done := make(chan error, len(dirs))
	for _, d := range dirs {
		go func() { done <- c.flushFS(d) }()
	}
	return sync.OnceValue(func() error {
		var errs []error
		for range dirs {
			errs = append(errs, <-done)
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("sync track files: %w", err)
		}
		return nil
	})
}

// attempt runs batch in one transaction and commits it once flushed (if
// not nil) reports the batch's files durable. Without savepoints, any
// request's error rolls everything back: it returns that error for a batch
// of one, errRetrySavepoints otherwise.
func (c *committer) attempt(batch []commitReq, savepoints bool, flushed func() error) ([]error, error) {
	tx, err := c.conn.BeginTx(context.Background(), nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	errs := make([]error, len(batch))
	for i, r := range batch {
		if !savepoints {
			if err := r.fn(tx); err != nil {
				tx.Rollback()
				if len(batch) == 1 {
					return nil, err
				}
				return nil, errRetrySavepoints
			}
			continue
		}
		if _, err := c.exec(tx, `SAVEPOINT req`); err != nil {
			errs[i] = err
			continue
		}
		if errs[i] = r.fn(tx); errs[i] != nil {
			c.exec(tx, `ROLLBACK TO req`)
		}
		c.exec(tx, `RELEASE req`)
	}
	if flushed != nil {
		if err := flushed(); err != nil {
			tx.Rollback()
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return errs, nil
}

var errStoreClosed = errors.New("store closed")

// exec runs the statement q in tx, prepared once per database connection
// (database/sql keeps the prepared statement per connection).
func (c *committer) exec(tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	st, err := c.stmt(tx, q)
	if err != nil {
		return nil, err
	}
	return st.Exec(args...)
}

// query is exec for a statement that returns rows.
func (c *committer) query(tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(tx, q)
	if err != nil {
		return nil, err
	}
	return st.Query(args...)
}

// queryRow is exec for a statement that returns one row.
func (c *committer) queryRow(tx *sql.Tx, q string, args ...any) *sql.Row {
	st, err := c.stmt(tx, q)
	if err != nil {
		return tx.QueryRow(q, args...) // reports the same error
	}
	return st.QueryRow(args...)
}

// stmt returns q prepared for tx. A statement seen for the first time is
// prepared for this transaction only, and for good before the next one
// (prepareNew): preparing it on the database here would wait for a pooled
// connection while this transaction holds the write lock that the holders
// of the other connections may be waiting for.
func (c *committer) stmt(tx *sql.Tx, q string) (*sql.Stmt, error) {
	c.stmtMu.Lock()
	st, ok := c.stmts[q]
	if !ok {
		if c.newStmts == nil {
			c.newStmts = map[string]bool{}
		}
		c.newStmts[q] = true
	}
	c.stmtMu.Unlock()
	if ok {
		return tx.Stmt(st), nil
	}
	return tx.Prepare(q)
}

// prepareNew prepares the statements first seen in earlier transactions.
// The committer calls it between transactions.
func (c *committer) prepareNew() {
	c.stmtMu.Lock()
	defer c.stmtMu.Unlock()
	for q := range c.newStmts {
		st, err := c.db.Prepare(q)
		if err != nil {
			continue // prepared per transaction until it works (a table created later)
		}
		if c.stmts == nil {
			c.stmts = map[string]*sql.Stmt{}
		}
		c.stmts[q] = st
		delete(c.newStmts, q)
	}
}

func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.reqs)
	}
	c.mu.Unlock()
	<-c.done
	c.files.close()
	c.stmtMu.Lock()
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
	c.stmtMu.Unlock()
	c.conn.Close()
}
