//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// kernelCosts measures, in dir, what the bench's figures depend on besides
// the CPU's speed: a system call, the first touch of a page, and a small
// write made durable. Two virtual machines of the same kind (2 cores,
// "AMD EPYC", ext4 on virtio) differed fivefold in the first two (1 µs
// and 13 µs against 0.2 µs and 1.6–2 µs), and 1,000 sessions met the goal
// on the cheaper one only: the backend makes two to three system calls
// per message, and the load process about as many.
func kernelCosts(dir string) (string, error) {
	const calls = 200_000
	t := time.Now()
	for range calls {
		syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
	}
	call := time.Since(t) / calls

	const pages = 16384 // 64 MiB
	page := os.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, pages*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return "", fmt.Errorf("mmap: %w", err)
	}
	defer syscall.Munmap(mem)
	syscall.Madvise(mem, syscall.MADV_NOHUGEPAGE) // one fault per page, as the heap's growth mostly is
	t = time.Now()
	for i := 0; i < len(mem); i += page {
		mem[i] = 1
	}
	fault := time.Since(t) / pages

	f, err := os.CreateTemp(dir, "fsync-probe")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, 4096)
	var syncs []time.Duration
	for range 20 {
		t := time.Now()
		if _, err := f.Write(block); err != nil {
			return "", err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return "", fmt.Errorf("fdatasync %s: %w", filepath.Base(f.Name()), err)
		}
		syncs = append(syncs, time.Since(t))
	}
	slices.Sort(syncs)
	return fmt.Sprintf("a system call %.2f µs (getppid), a page's first touch %.1f µs, a 4 KiB write + fdatasync %.2f ms (median of 20)",
		float64(call.Nanoseconds())/1e3, float64(fault.Nanoseconds())/1e3, float64(syncs[len(syncs)/2].Microseconds())/1e3), nil
}
