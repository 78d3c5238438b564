package backend

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

type countSync struct {
	mu sync.Mutex
	n  int
}

func (c *countSync) Sync() error {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return nil
}

// TestFileSyncerGroups: many sessions' syncs are served, by flushes of
// the file system where the OS has it (their own Sync is then not needed;
// the committer runs one flush per batch), and a closed syncer refuses.
func TestFileSyncerGroups(t *testing.T) {
	dir := t.TempDir()
	var s fileSyncer
	var wg sync.WaitGroup
	files := make([]*countSync, 50)
	errs := make([]error, len(files))
	for i := range files {
		files[i] = &countSync{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := os.WriteFile(filepath.Join(dir, "f"+string(rune('a'+i%26))), []byte("x"), 0o600); err != nil {
				errs[i] = err
				return
			}
			errs[i] = s.sync(dir, []syncable{files[i]})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("sync %d: %v", i, err)
		}
		if got, want := files[i].n, map[bool]int{true: 0, false: 1}[canSyncFS()]; got != want {
			t.Errorf("file %d: Sync called %d times, want %d (group flush: %v)", i, got, want, canSyncFS())
		}
	}
	s.close()
	if err := s.sync(dir, []syncable{&countSync{}}); canSyncFS() && !errors.Is(err, errStoreClosed) {
		t.Errorf("sync after close: %v, want errStoreClosed", err)
	}
	s.close() // idempotent
}
