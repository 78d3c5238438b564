package backend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// testCommitter opens a database with a table t (x INTEGER PRIMARY KEY)
// and a committer on it, both closed when the test ends.
func testCommitter(t *testing.T) (*sql.DB, *committer) {
	t.Helper()
	db, err := openDB(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (x INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	c, err := newCommitter(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return db, c
}

// TestCommitterIsolatesAFailingRequest: a batch of requests shares one
// transaction; one request's error must roll back only its own changes,
// whether it fails alone or among others (the batch then runs again with
// savepoints).
func TestCommitterIsolatesAFailingRequest(t *testing.T) {
	db, c := testCommitter(t)
	ctx := context.Background()
	insert := func(x int, fail bool) func(*sql.Tx) error {
		return func(tx *sql.Tx) error {
			if _, err := c.exec(tx, `INSERT INTO t(x) VALUES (?)`, x); err != nil {
				return err
			}
			if fail {
				return fmt.Errorf("request %d fails after its insert", x)
			}
			return nil
		}
	}
	// Hold the committer in a first request so that the next ones queue
	// up and run as one batch.
	hold, held := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- c.do(ctx, func(tx *sql.Tx) error { close(held); <-hold; return insert(0, false)(tx) })
	}()
	<-held
	const n = 20
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		go func() { errs <- c.do(ctx, insert(i, i%7 == 0)) }()
	}
	for len(c.reqs) < n { // all queued behind the held request
		runtime.Gosched()
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	failed := 0
	for range n {
		if err := <-errs; err != nil {
			failed++
		}
	}
	if failed != n/7 {
		t.Fatalf("%d requests failed, want %d", failed, n/7)
	}
	for i := 0; i <= n; i++ {
		var got int
		err := db.QueryRow(`SELECT count(*) FROM t WHERE x = ?`, i).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if i > 0 && i%7 == 0 {
			want = 0
		}
		if got != want {
			t.Errorf("row %d: %d stored, want %d", i, got, want)
		}
	}
	// A request failing alone rolls back its own changes.
	if err := c.do(ctx, insert(100, true)); err == nil {
		t.Fatal("a failing request reported success")
	}
	var got int
	db.QueryRow(`SELECT count(*) FROM t WHERE x = 100`).Scan(&got)
	if got != 0 {
		t.Fatal("a failed request's insert was committed")
	}
	if err := c.do(ctx, func(*sql.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	c.close()
	if err := c.do(ctx, insert(101, false)); !errors.Is(err, errStoreClosed) {
		t.Fatalf("do after close: %v", err)
	}
}

// TestCommitterCommitsAfterTheFlush: a request whose files must be
// durable commits only once the flush the committer runs beside its
// statements has returned, and fails with the flush.
func TestCommitterCommitsAfterTheFlush(t *testing.T) {
	db, c := testCommitter(t)
	release := make(chan error)
	started := make(chan string, 1)
	c.flushFS = func(dir string) error { started <- dir; return <-release }
	ctx := context.Background()
	insert := func(x int) func(*sql.Tx) error {
		return func(tx *sql.Tx) error { _, err := c.exec(tx, `INSERT INTO t(x) VALUES (?)`, x); return err }
	}
	count := func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	done := make(chan error, 1)
	go func() { done <- c.doFlushed(ctx, "sessions", insert(1)) }()
	if dir := <-started; dir != "sessions" {
		t.Fatalf("flushed %q", dir)
	}
	time.Sleep(50 * time.Millisecond) // the statements have run by now
	if n := count(); n != 0 {
		t.Fatal("committed before the flush returned")
	}
	release <- nil
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d rows after the flush, want 1", n)
	}
	go func() { done <- c.doFlushed(ctx, "sessions", insert(2)) }()
	<-started
	release <- errors.New("disk on fire")
	if err := <-done; err == nil {
		t.Fatal("a failed flush reported the request committed")
	}
	if n := count(); n != 1 {
		t.Fatalf("%d rows after a failed flush, want 1", n)
	}
}
