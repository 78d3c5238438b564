package backend

import (
	"os"
	"sync"
)

// fileSyncer makes track files durable. Where the OS can flush a whole
// file system at once (Linux: syncfs(2)), the committer flushes it once
// per batch, beside the batch's statements, so that one flush serves
// every session in the batch (group commit for files: store.go,
// startFlushes). Elsewhere each session fsyncs its own files before it
// queues its transaction.
type fileSyncer struct {
	mu     sync.Mutex // held during a flush: close waits for it
	fd     *os.File   // the sessions directory, opened at the first flush
	closed bool
}

// syncable is a file whose written data Sync makes durable.
type syncable interface{ Sync() error }

// sync makes everything the caller wrote to files under dir (the files of
// fs and their directory entries) durable: one flush of dir's file system
// where canSyncFS, each file's Sync elsewhere. dir is the sessions
// directory: every session's files must be on its file system (a mount
// per session directory is not supported).
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

// flush flushes the file system of dir (canSyncFS only). A flush covers
// what was written before it started.
func (s *fileSyncer) flush(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errStoreClosed
	}
	if s.fd == nil {
		fd, err := os.Open(dir)
		if err != nil {
			return err
		}
		s.fd = fd
	}
	return syncFS(s.fd)
}

// close refuses new flushes; one in progress finishes first.
func (s *fileSyncer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.fd != nil {
		s.fd.Close()
		s.fd = nil
	}
}
