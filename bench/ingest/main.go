// Command ingest benchmarks the backend as users run it: it builds
// invigild, starts `invigild serve` in its own process (a temporary data
// directory, a loopback port), creates an exam, and drives it from a
// separate load process (this binary re-executed with -role load) of
// protocol clients that keep their unacked messages in memory. The clients
// send the default policy's message mix: camera H.264 at 640×480, 15 fps,
// 150 kbps with a keyframe every 2 s; screen H.264 at 1 fps, 80 kbps, a
// keyframe every 10 s; a heartbeat a second; an event every ~10 s; stills
// (three at the start, one every ~2 min); checkpoints as the backend asks.
// The payloads are real H.264 made once by ffmpeg (libx264), so the
// backend's recording path does its real work.
//
// It first prints the machine's cores and what its kernel and disk cost
// (a system call, a page's first touch, a small write made durable).
// For each client count it prints offered and stored messages per second
// (stored: acked before the streaming time was over), ack latency (capture
// to ack) p50/p95/p99, the backend's CPU (from /proc/PID/stat) and peak RSS
// (VmHWM), and then the knee. After each round it checks, through
// `invigild sessions --json`, that every session's stored messages and
// chain digest are exactly what its client sent: nothing lost, nothing
// stored twice.
//
//	go run ./bench/ingest -clients 100,300,1000 -duration 15s
//	go run ./bench/ingest -soak -clients 300 -duration 10m   # kill -9 of the backend half-way
//
// Run it from the repository root. It needs ffmpeg with libx264.
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// loadProfile is -load-cpuprofile.
var loadProfile string

// serveFlags are the -serve-flag values.
var serveFlags stringList

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	role := flag.String("role", "bench", "bench (coordinator) or load (the load process; started by the coordinator)")
	clients := flag.String("clients", "100,300,1000", "comma-separated session counts")
	dur := flag.Duration("duration", 15*time.Second, "how long each round streams")
	soak := flag.Bool("soak", false, "one long round per client count with a kill -9 and restart of the backend half-way; prints RSS samples")
	sample := flag.Duration("sample", 0, "RSS sample interval (default: 10 s in a soak, none otherwise)")
	pprofAddr := flag.String("pprof", "", "start invigild with --pprof ADDR (e.g. 127.0.0.1:6060) to profile it during a round")
	keep := flag.Bool("keep", false, "keep the data directories (printed) for inspection")
	flag.StringVar(&loadProfile, "load-cpuprofile", "", "write a CPU profile of the load process to this file")
	flag.Var(&serveFlags, "serve-flag", "an extra flag for invigild serve, e.g. -serve-flag=--heartbeat=5s (repeatable)")
	prebuilt := flag.String("invigild", "", "use this invigild binary instead of building ./cmd/invigild (to compare builds)")
	// -role load only:
	server := flag.String("server", "", "load: backend URL")
	code := flag.String("code", "", "load: join code")
	out := flag.String("out", "", "load: where to write the report (JSON)")
	cpuProfile := flag.String("cpuprofile", "", "load: write a CPU profile of the load process here")
	flag.Parse()

	if *role == "load" {
		n, err := strconv.Atoi(*clients)
		if err != nil {
			log.Fatalf("load: -clients %q", *clients)
		}
		if *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			if err != nil {
				log.Fatalf("load: %v", err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				log.Fatalf("load: %v", err)
			}
			defer pprof.StopCPUProfile()
		}
		if err := loadMain(*server, *code, n, *dur, *out); err != nil {
			log.Fatalf("load: %v", err)
		}
		return
	}
	var counts []int
	for _, f := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			log.Fatalf("bad -clients %q", f)
		}
		counts = append(counts, n)
	}
	if *sample == 0 && *soak {
		*sample = 10 * time.Second
	}
	work, err := os.MkdirTemp("", "invigil-ingest-bench")
	if err != nil {
		log.Fatal(err)
	}
	if !*keep {
		defer os.RemoveAll(work)
	}
	fatalf := func(format string, args ...any) {
		if !*keep {
			os.RemoveAll(work) // log.Fatalf skips the deferred removal
		}
		log.Fatalf(format, args...)
	}
	bin := filepath.Join(work, "invigild")
	if *prebuilt != "" {
		bin = *prebuilt
	} else {
		fmt.Fprintln(os.Stderr, "building invigild...")
		if b, err := exec.Command("go", "build", "-o", bin, "./cmd/invigild").CombinedOutput(); err != nil {
			fatalf("go build ./cmd/invigild (run from the repository root): %v\n%s", err, b)
		}
	}
	printHardware(work)
	fmt.Printf("%s per round; per session: camera 15 fps (150 kbps), screen 1 fps (80 kbps), heartbeat 1/s, events, stills, checkpoints\n", *dur)
	if *soak {
		fmt.Println("soak: the backend is killed (SIGKILL) and restarted half-way through each round")
	}
	fmt.Printf("%8s %9s %9s %9s %9s %9s %9s %6s %8s %9s %8s %6s %s\n", "sessions", "offered/s", "stored/s", "ack p50", "ack p95", "ack p99", "ack max", "CPU", "CPU/kmsg", "peak RSS", "load CPU", "load", "verified")
	var rows []row
	for i, n := range counts {
		r, err := round(bin, filepath.Join(work, fmt.Sprint("round", i)), n, *dur, *soak, *sample, *pprofAddr)
		if err != nil {
			fatalf("%d sessions: %v", n, err)
		}
		rows = append(rows, *r)
		fmt.Printf("%8d %9.0f %9.0f %9s %9s %9s %9s %5.0f%% %6.0fms %8.0fM %7.0f%% %6s %s\n", n, r.offered, r.stored,
			ms(r.lat[0]), ms(r.lat[1]), ms(r.lat[2]), ms(r.lat[3]), r.cpu*100, r.cpuPerK, r.hwmMB, r.loadCPU*100, r.load, r.verified)
		fmt.Printf("  %s\n", r.windows)
		if *keep {
			fmt.Println("  data:", r.dir)
		}
	}
	printKnee(rows)
}

// windowsLine says when the clients got in and how the ack latency went
// through the round: the start, with every client connecting in the same
// second, is not the steady state.
func windowsLine(rep *loadReport) string {
	var b strings.Builder
	if c := rep.ConnectedMS; len(c) == 3 {
		fmt.Fprintf(&b, "connected after p50 %s, p95 %s, last %s; ", ms(c[0]*1000), ms(c[1]*1000), ms(c[2]*1000))
	}
	b.WriteString("ack p95/p99 by capture time:")
	ws := rep.Windows
	if len(ws) > 12 { // a soak: the start, then the worst window
		ws = ws[:4]
	}
	for _, w := range ws {
		fmt.Fprintf(&b, " %ds %s/%s", w.FromS, ms(w.LatencyUS[1]), ms(w.LatencyUS[2]))
	}
	if rest := rep.Windows[len(ws):]; len(rest) > 0 {
		worst := slices.MaxFunc(rest, func(a, b latencyWindow) int { return cmp.Compare(a.LatencyUS[1], b.LatencyUS[1]) })
		fmt.Fprintf(&b, "; from %ds on, the worst window (%ds) %s/%s", rest[0].FromS, worst.FromS, ms(worst.LatencyUS[1]), ms(worst.LatencyUS[2]))
		// A long round's trend: does the latency drift as the data grows?
		b.WriteString("\n  each minute's worst window, ack p95/p99:")
		for i := 0; i < len(rep.Windows); {
			minute := rep.Windows[i].FromS / 60
			worst := rep.Windows[i]
			for ; i < len(rep.Windows) && rep.Windows[i].FromS/60 == minute; i++ {
				if rep.Windows[i].LatencyUS[1] > worst.LatencyUS[1] {
					worst = rep.Windows[i]
				}
			}
			fmt.Fprintf(&b, " %dm %s/%s", minute, ms(worst.LatencyUS[1]), ms(worst.LatencyUS[2]))
		}
	}
	return b.String()
}

func ms(us int64) string {
	if us >= 10e6 {
		return fmt.Sprintf("%.1fs", float64(us)/1e6)
	}
	return fmt.Sprintf("%.1fms", float64(us)/1e3)
}

type row struct {
	n               int
	offered, stored float64
	lat             []int64
	cpu             float64 // cores
	cpuPerK         float64 // backend CPU ms per 1000 messages: the cost, whatever else runs
	loadCPU         float64 // the load process's cores: what it leaves the backend on a shared machine
	hwmMB           float64
	load            string
	verified        string
	dir             string
	windows         string // ack p95 by capture time, and when the clients got in
}

// The goals of issue 13: ack p95 ≤ 500 ms and p99 ≤ 1 s, and the backend
// keeps up (stores ≥ 98 % of what is offered while it is offered).
func (r row) ok() bool {
	return r.lat[1] <= 500e3 && r.lat[2] <= 1e6 && r.stored >= 0.98*r.offered
}

func printKnee(rows []row) {
	last := -1
	for i, r := range rows {
		if !r.ok() {
			break
		}
		last = i
	}
	switch {
	case last == len(rows)-1:
		fmt.Printf("knee: above %d sessions (every round kept ack p95 ≤ 500 ms, p99 ≤ 1 s and stored ≥ 98%% of offered)\n", rows[last].n)
	case last < 0:
		fmt.Printf("knee: below %d sessions (no round met ack p95 ≤ 500 ms, p99 ≤ 1 s, stored ≥ 98%% of offered)\n", rows[0].n)
	default:
		fmt.Printf("knee: between %d and %d sessions (the last round meeting ack p95 ≤ 500 ms, p99 ≤ 1 s, stored ≥ 98%% of offered, and the first not)\n", rows[last].n, rows[last+1].n)
	}
}

func printHardware(dir string) {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				model = strings.TrimSpace(l[strings.Index(l, ":")+1:])
				break
			}
		}
	}
	out, _ := exec.Command("nproc").Output()
	fmt.Printf("hardware: %s cores, %s; load average at start %s\n", strings.TrimSpace(string(out)), model, loadAvg())
	costs, err := kernelCosts(dir)
	if err != nil {
		costs = "not measured: " + err.Error()
	}
	fmt.Printf("kernel and disk: %s\n", costs)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// backendProc is a running `invigild serve`.
type backendProc struct {
	cmd  *exec.Cmd
	done chan error
}

func startBackend(bin, data, addr, pprofAddr string) (*backendProc, error) {
	args := []string{"serve", "--data", data, "--addr", addr, "--no-rate-limit", "--log-level", "warn"}
	args = append(args, serveFlags...)
	if pprofAddr != "" {
		args = append(args, "--pprof", pprofAddr)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &backendProc{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening on") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case <-ready:
		return p, nil
	case err := <-p.done:
		return nil, fmt.Errorf("invigild serve exited: %v", err)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		return nil, errors.New("invigild serve did not start within 60 s")
	}
}

func (p *backendProc) stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		return errors.New("invigild did not stop within 30 s of SIGTERM")
	}
}

func (p *backendProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// cpuTicks is utime+stime of pid in clock ticks (USER_HZ, 100 on Linux).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields start after the last ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st, nil
}

const userHZ = 100

// procStatusKB reads a "Vm...:  N kB" line of /proc/pid/status.
func procStatusKB(pid int, key string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, key+":") {
			v, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return v
		}
	}
	return 0
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func round(bin, dir string, n int, dur time.Duration, soak bool, sample time.Duration, pprofAddr string) (*row, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	be, err := startBackend(bin, data, addr, pprofAddr)
	if err != nil {
		return nil, err
	}
	defer func() {
		if be != nil {
			be.stop()
		}
	}()
	out, err := exec.Command(bin, "exam", "create", "--data", data, "--name", fmt.Sprintf("bench %d", n)).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("exam create: %v: %s", err, out)
	}
	i := strings.LastIndex(string(out), "join code ")
	if i < 0 {
		return nil, fmt.Errorf("exam create said %q", out)
	}
	code := strings.TrimSpace(string(out[i+len("join code "):]))

	report := filepath.Join(dir, "load.json")
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-role", "load", "-server", "http://" + addr, "-code", code,
		"-clients", fmt.Sprint(n), "-duration", dur.String(), "-out", report}
	if loadProfile != "" {
		args = append(args, "-cpuprofile", loadProfile)
	}
	load := exec.Command(self, args...)
	load.Stdout, load.Stderr = os.Stderr, os.Stderr
	ticks0, _ := cpuTicks(be.cmd.Process.Pid)
	t0 := time.Now()
	if err := load.Start(); err != nil {
		return nil, err
	}
	loadDone := make(chan error, 1)
	go func() { loadDone <- load.Wait() }()
	loadEnded := false
	defer func() {
		if !loadEnded { // a failed round: no orphaned load process
			load.Process.Kill()
			<-loadDone
		}
	}()

	var cpuBefore int64 // CPU of backends killed during the round
	var hwmBefore float64
	var sampleC <-chan time.Time
	if sample > 0 {
		t := time.NewTicker(sample)
		defer t.Stop()
		sampleC = t.C
	}
	var killC <-chan time.Time
	if soak {
		// Joining takes a while at the start; kill half-way through the streaming.
		killC = time.After(dur / 2)
	}
	var lerr error
wait:
	for {
		select {
		case lerr = <-loadDone:
			loadEnded = true
			break wait
		case <-sampleC:
			pid := be.cmd.Process.Pid
			fmt.Printf("  t=%-6s backend pid %d RSS %.0f MiB (peak %.0f MiB), load %s\n", time.Since(t0).Round(time.Second), pid,
				procStatusKB(pid, "VmRSS")/1024, procStatusKB(pid, "VmHWM")/1024, loadAvg())
		case <-killC:
			killC = nil
			pid := be.cmd.Process.Pid
			t, _ := cpuTicks(pid)
			cpuBefore += t - ticks0
			hwmBefore = max(hwmBefore, procStatusKB(pid, "VmHWM"))
			fmt.Printf("  t=%-6s kill -9 backend pid %d (RSS %.0f MiB)\n", time.Since(t0).Round(time.Second), pid, procStatusKB(pid, "VmRSS")/1024)
			be.kill()
			be = nil
			if be, err = startBackend(bin, data, addr, pprofAddr); err != nil {
				return nil, fmt.Errorf("restart after kill: %w", err)
			}
			ticks0, _ = cpuTicks(be.cmd.Process.Pid)
			fmt.Printf("  t=%-6s restarted backend pid %d\n", time.Since(t0).Round(time.Second), be.cmd.Process.Pid)
		}
	}
	wall := time.Since(t0).Seconds()
	pid := be.cmd.Process.Pid
	t1, _ := cpuTicks(pid)
	hwm := max(hwmBefore, procStatusKB(pid, "VmHWM"))
	la := loadAvg()
	if lerr != nil {
		return nil, fmt.Errorf("load process: %w", lerr)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		return nil, err
	}
	var rep loadReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, err
	}
	verified, err := verify(bin, data, &rep)
	if err != nil {
		return nil, err
	}
	loadCPU := (load.ProcessState.UserTime() + load.ProcessState.SystemTime()).Seconds() / wall
	r := &row{n: n, offered: float64(rep.Offered) / rep.Seconds, stored: float64(rep.AckedInTime) / rep.Seconds, loadCPU: loadCPU,
		lat: rep.LatencyUS, cpu: float64(cpuBefore+t1-ticks0) / userHZ / wall, hwmMB: hwm / 1024,
		cpuPerK: float64(cpuBefore+t1-ticks0) * 1000 / userHZ / float64(rep.Offered) * 1000,
		load:    strings.Fields(la)[0], verified: verified, dir: data}
	if rep.Reconnects > 0 {
		r.verified += fmt.Sprintf(" (%d reconnects)", rep.Reconnects)
	}
	r.windows = windowsLine(&rep)
	return r, nil
}

// verify compares what the clients sent with what the backend stored, as
// `invigild sessions --json` lists it: the same last seq, the same chain
// digest (a lost, duplicated, reordered or changed message changes it),
// the same count per track, and checkpoints that all matched.
func verify(bin, data string, rep *loadReport) (string, error) {
	if len(rep.Errors) > 0 {
		return "", fmt.Errorf("%d clients failed, first: %s", len(rep.Errors), rep.Errors[0])
	}
	out, err := exec.Command(bin, "sessions", "--data", data, "--json").Output()
	if err != nil {
		return "", fmt.Errorf("invigild sessions: %w", err)
	}
	var ss []struct {
		ID      string `json:"session_id"`
		State   string `json:"state"`
		LastAck uint64 `json:"last_ack"`
		Digest  string `json:"digest"`
		Tracks  []struct {
			Track    uint8 `json:"track"`
			Messages int64 `json:"messages"`
		} `json:"tracks"`
		Integrity struct {
			Status     string `json:"status"`
			Mismatches []any  `json:"mismatches"`
		} `json:"integrity"`
	}
	if err := json.Unmarshal(out, &ss); err != nil {
		return "", fmt.Errorf("invigild sessions --json: %w", err)
	}
	byID := map[string]int{}
	for i, s := range ss {
		byID[s.ID] = i
	}
	var lost, dup, msgs int64
	var problems []string
	for _, c := range rep.Sessions {
		i, ok := byID[c.ID]
		if !ok {
			return "", fmt.Errorf("session %s is not stored", c.ID)
		}
		s := ss[i]
		msgs += int64(c.LastSeq)
		if s.LastAck < c.LastSeq {
			lost += int64(c.LastSeq - s.LastAck)
		}
		if s.LastAck > c.LastSeq {
			dup += int64(s.LastAck - c.LastSeq)
		}
		stored := map[uint8]int64{}
		var total int64
		for _, t := range s.Tracks {
			stored[t.Track] = t.Messages
			total += t.Messages
		}
		for tr, sent := range c.Tracks {
			switch got := stored[tr]; {
			case got < int64(sent):
				lost += int64(sent) - got
			case got > int64(sent):
				dup += got - int64(sent)
			}
		}
		if s.Digest != c.Digest || (c.Finished != "" && s.Digest != c.Finished) {
			problems = append(problems, fmt.Sprintf("%s: digest stored %.12s, sent %.12s, finished %.12s", c.ID, s.Digest, c.Digest, c.Finished))
		}
		if s.State != "finished" {
			problems = append(problems, fmt.Sprintf("%s: state %s", c.ID, s.State))
		}
		if len(s.Integrity.Mismatches) > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d checkpoint mismatches", c.ID, len(s.Integrity.Mismatches)))
		}
	}
	if lost > 0 || dup > 0 || len(problems) > 0 {
		return "", fmt.Errorf("%d lost, %d duplicated; %d problems, first: %v", lost, dup, len(problems), first(problems))
	}
	return fmt.Sprintf("%d msgs: 0 lost, 0 dup", msgs), nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
