package transport

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkSpoolAppendSyncEach measures an append that syncs every time,
// which now also writes the state file: the worst case of its cost.
func BenchmarkSpoolAppendSyncEach(b *testing.B) {
	s, err := OpenSpool(b.TempDir(), testKey, SpoolOptions{SyncInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := Message{Kind: KindData, Track: TrackHeartbeat, Time: time.Now(), Payload: bytes.Repeat([]byte("x"), 1024)}
	for b.Loop() {
		if _, err := s.Append(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpoolOpenDamagedHead measures opening an 8 MiB head segment
// whose first record header is destroyed, so that every later record is
// found by resynchronisation.
func BenchmarkSpoolOpenDamagedHead(b *testing.B) {
	dir := b.TempDir()
	s, err := OpenSpool(dir, testKey, SpoolOptions{SegmentBytes: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	m := Message{Kind: KindData, Track: TrackHeartbeat, Time: time.Now(), Payload: bytes.Repeat([]byte("x"), 8<<10)}
	for s.Status().UnackedBytes < 8<<20 {
		s.Append(m)
	}
	s.Close()
	seg := filepath.Join(dir, segName(1))
	orig, _ := os.ReadFile(seg)
	orig[segHeaderSize] ^= 0xff
	for b.Loop() {
		os.WriteFile(seg, orig, 0o600)
		os.Remove(filepath.Join(dir, stateFileName))
		s, err := OpenSpool(dir, testKey, SpoolOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if s.Status().NextSeq < 100 {
			b.Fatalf("resync found too little: %+v", s.Status())
		}
		s.Close()
		aside, _ := filepath.Glob(dir + ".damaged-*")
		for _, a := range aside {
			os.RemoveAll(a)
		}
	}
}
