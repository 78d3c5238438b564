// Command lockdown-bench measures the lockdown Monitor against its goals:
// detection latency (a prohibited process starts → its violation is
// emitted), p50/p99 over 200 starts, goal p99 ≤ 300 ms; and the Monitor's
// CPU share (process CPU time / wall time) with a few hundred processes
// running, goal ≤ 1 % of one core.
//
//	go run ./bench/lockdown [-starts 200] [-procs 300] [-idle 20s] [-xvfb=true]
//
// The prohibited process is a copy of sleep named "anydesk", which the
// default policy prohibits. With -xvfb the displays are polled too, on an
// Xvfb with two screens.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/invigil/invigil/capture/xvfb"
	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/lockdown/policy"
)

type sink struct {
	mu     sync.Mutex
	opened map[string]time.Time // pid → when its open event arrived
	ch     chan string
}

func (s *sink) Violation(v lockdown.Violation) {
	if v.Code != lockdown.CodeProcessProhibited || v.Phase != lockdown.PhaseOpen {
		return
	}
	now := time.Now()
	s.mu.Lock()
	s.opened[v.Evidence["pid"]] = now
	s.mu.Unlock()
	select {
	case s.ch <- v.Evidence["pid"]:
	default:
	}
}

var profile string

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	starts := flag.Int("starts", 200, "prohibited-process starts to time")
	procs := flag.Int("procs", 300, "background processes to run during the test")
	idle := flag.Duration("idle", 20*time.Second, "window for the CPU measurement")
	xvfb := flag.Bool("xvfb", true, "poll displays on an Xvfb with two screens")
	interval := flag.Duration("interval", 0, "Monitor process-poll interval (0: the default)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the idle window to this file")
	flag.Parse()
	profile = *cpuprofile
	if err := run(*starts, *procs, *idle, *xvfb, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "lockdown-bench:", err)
		os.Exit(1)
	}
}

func run(starts, nprocs int, idle time.Duration, xvfb bool, interval time.Duration) error {
	dir, err := os.MkdirTemp("", "lockdown-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sleepBin, err := exec.LookPath("sleep")
	if err != nil {
		return err
	}
	b, err := os.ReadFile(sleepBin)
	if err != nil {
		return err
	}
	anydesk := filepath.Join(dir, "anydesk")
	innocent := filepath.Join(dir, "worker")
	for _, p := range []string{anydesk, innocent} {
		if err := os.WriteFile(p, b, 0o755); err != nil {
			return err
		}
	}
	if xvfb {
		stop, display, err := startXvfb()
		if err != nil {
			fmt.Println("xvfb: not used:", err)
		} else {
			defer stop()
			os.Setenv("DISPLAY", display)
		}
	} else {
		os.Unsetenv("DISPLAY")
	}

	// Background load: a few hundred processes.
	var bg []*exec.Cmd
	defer func() {
		for _, c := range bg {
			c.Process.Kill()
			c.Wait()
		}
	}()
	for i := 0; i < nprocs; i++ {
		c := exec.Command(innocent, "3600")
		if err := c.Start(); err != nil {
			return fmt.Errorf("background process %d: %w", i, err)
		}
		bg = append(bg, c)
	}
	total, _ := os.ReadDir("/proc")
	nproc := 0
	for _, d := range total {
		if _, err := strconv.Atoi(d.Name()); err == nil {
			nproc++
		}
	}

	p := policy.Default()
	p.Enforcement.Terminate = policy.TerminateNever
	p.Clipboard = policy.ClipboardAllow
	s := &sink{opened: map[string]time.Time{}, ch: make(chan string, 16)}
	m, err := lockdown.NewMonitor(p, lockdown.MonitorOptions{
		Sink: s, ProcessInterval: interval,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	defer m.Close()
	time.Sleep(time.Second) // first polls, hashes, display connection

	// CPU share while idle: only the Monitor runs in this process.
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer f.Close()
	}
	c0, w0 := cpuTime(), time.Now()
	time.Sleep(idle)
	cpu, wall := cpuTime()-c0, time.Since(w0)
	if profile != "" {
		pprof.StopCPUProfile()
	}
	share := float64(cpu) / float64(wall) * 100

	// Latency: start a prohibited process at a random phase of the poll,
	// wait for its violation, stop it.
	var lat []time.Duration
	missed := 0
	for i := 0; i < starts; i++ {
		time.Sleep(time.Duration(20+rand.IntN(80)) * time.Millisecond)
		c := exec.Command(anydesk, "60")
		t0 := time.Now()
		if err := c.Start(); err != nil {
			return err
		}
		pid := strconv.Itoa(c.Process.Pid)
		deadline := time.After(3 * time.Second)
	wait:
		for {
			select {
			case <-s.ch:
				s.mu.Lock()
				at, ok := s.opened[pid]
				s.mu.Unlock()
				if ok {
					lat = append(lat, at.Sub(t0))
					break wait
				}
			case <-deadline:
				missed++
				break wait
			}
		}
		c.Process.Kill()
		c.Wait()
	}
	slices.Sort(lat)
	pct := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(q*float64(len(lat))))]
	}
	pi := interval
	if pi == 0 {
		pi = 150 * time.Millisecond
	}
	fmt.Printf("processes running: %d (%d background), process poll every %v, displays polled: %v\n", nproc, nprocs, pi, os.Getenv("DISPLAY") != "")
	fmt.Printf("detection latency over %d starts: p50 %v  p99 %v  max %v  missed %d   (goal p99 <= 300ms: %s, ratio %.2f)\n",
		len(lat), pct(0.50).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), pct(1).Round(time.Millisecond), missed,
		verdict(pct(0.99) <= 300*time.Millisecond && missed == 0), float64(pct(0.99))/float64(300*time.Millisecond))
	fmt.Printf("monitor CPU: %v over %v = %.2f%% of one core   (goal <= 1%%: %s, ratio %.2f)\n",
		cpu.Round(time.Millisecond), wall.Round(time.Millisecond), share, verdict(share <= 1), share/1)
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func startXvfb() (func(), string, error) {
	srv, err := xvfb.Start("1280x720x24", "1280x720x24")
	if err != nil {
		return nil, "", err
	}
	return srv.Close, srv.Display(), nil
}
