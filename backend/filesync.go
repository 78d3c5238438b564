package backend

import (
	"os"
	"sync"
)

// fileSyncer makes the track files that many sessions wrote durable with
// one flush for all of them (group commit for files), where the OS can
// flush a whole file system at once (Linux: syncfs(2)). Elsewhere each
// session fsyncs its own files.
//
// A session calls sync after its writes have returned. The flush that
// serves it starts after the call: a flush already running when it
// arrives does not count, as it may have started before the writes. One
// goroutine runs flushes back to back while sessions wait and exits when
// none does.
type fileSyncer struct {
	mu      sync.Mutex
	fd      *os.File // the data directory, opened at the first sync
	waiters []chan error
	running bool
	closed  bool
	wg      sync.WaitGroup // the running flusher
}

// syncable is a file whose written data Sync makes durable.
type syncable interface{ Sync() error }

// sync makes everything the caller wrote to files under dir (the files of
// fs and their directory entries) durable. dir is the sessions directory:
// every session's files must be on its file system (a mount per session
// directory is not supported).
func (s *fileSyncer) sync(dir string, fs []syncable) error {
	if !canSyncFS() || len(fs) == 0 {
		for _, f := range fs {
			if err := f.Sync(); err != nil {
				return err
			}
		}
		return nil
	}
	return s.flush(dir)
}

// flush flushes the file system of dir (syncfs) once for every caller
// waiting, where canSyncFS.
func (s *fileSyncer) flush(dir string) error {
	ch := make(chan error, 1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errStoreClosed
	}
	if s.fd == nil {
		fd, err := os.Open(dir)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		s.fd = fd
	}
	s.waiters = append(s.waiters, ch)
	if !s.running {
		s.running = true
		s.wg.Add(1)
		go s.run()
	}
	s.mu.Unlock()
	return <-ch
}

func (s *fileSyncer) run() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		batch, fd := s.waiters, s.fd
		s.waiters = nil
		if len(batch) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		err := syncFS(fd)
		for _, ch := range batch {
			ch <- err
		}
	}
}

// close refuses new syncs; a running flush finishes for its waiters.
func (s *fileSyncer) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait() // the flush in progress answers its waiters, then run exits
	s.mu.Lock()
	if s.fd != nil {
		s.fd.Close()
		s.fd = nil
	}
	s.mu.Unlock()
}
