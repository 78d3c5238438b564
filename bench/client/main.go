// Command client measures the whole student client while it streams: CPU
// (user + system time over wall time, as a share of one core) and resident
// memory of the invigil process, running headless with the videotest camera
// and screen capture of an Xvfb display that shows moving content, against a
// local backend. Linux only (it reads /proc).
//
//	go run ./bench/client [-duration 30s] [-camera test] [-screen all]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/invigil/invigil/capture/xvfb"
)

func main() {
	dur := flag.Duration("duration", 30*time.Second, "how long the client streams")
	camera := flag.String("camera", "test", "camera source (test, scene, a device)")
	screen := flag.String("screen", "all", "screen source (all, 0, test)")
	flag.Parse()
	if err := run(*dur, *camera, *screen); err != nil {
		log.Fatal(err)
	}
}

func run(dur time.Duration, camera, screen string) error {
	tmp, err := os.MkdirTemp("", "invigil-client-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Println("building the binaries...")
	build := exec.Command("go", "build", "-o", tmp+"/", "./cmd/invigil", "./cmd/invigild")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build (run from the repository root): %w", err)
	}

	// An X display with moving content, unless the screen is synthetic.
	env := os.Environ()
	if screen != "test" && screen != "none" {
		display, stop, err := movingScreen()
		if err != nil {
			return err
		}
		defer stop()
		env = append(env, "DISPLAY="+display)
	}

	data := filepath.Join(tmp, "data")
	if err := os.Mkdir(data, 0o700); err != nil { // invigild's CLI refuses a missing data dir
		return err
	}
	quiet := `{"version": 1, "name": "bench", "processes": {"prohibited": [], "allowed": []}, "remote_ports": [],
	  "displays": {"max": 16, "action": "flag"}, "virtual_machine": "flag", "remote_session": "flag", "virtual_camera": {"action": "flag"}}`
	pol := filepath.Join(tmp, "policy.json")
	os.WriteFile(pol, []byte(quiet), 0o644)
	if out, err := exec.Command(tmp+"/invigild", "exam", "create", "--data", data, "--name", "bench", "--code", "BENCH", "--policy", pol).CombinedOutput(); err != nil {
		return fmt.Errorf("exam create: %v: %s", err, out)
	}
	srv := exec.Command(tmp+"/invigild", "serve", "--addr", "127.0.0.1:0", "--data", data)
	out, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	var url string
	sc := bufio.NewScanner(out)
	re := regexp.MustCompile(`listening on (http://\S+)`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
			break
		}
	}
	if url == "" {
		return fmt.Errorf("backend did not start")
	}

	cl := exec.Command(tmp+"/invigil", "run", "--headless", "--server", url, "--code", "BENCH", "--accept-consent",
		"--duration", dur.String(), "--spool", filepath.Join(tmp, "spool"), "--journal", filepath.Join(tmp, "journal"),
		"--camera", camera, "--screen", screen, "--json")
	cl.Env = env
	var stdout strings.Builder
	cl.Stdout = &stdout
	if err := cl.Start(); err != nil {
		return err
	}
	pid := cl.Process.Pid
	tick := sysconfClockTicks()
	var samples []float64
	var peakRSS, sumRSS int64
	n := 0
	prevCPU, prevT := cpuTicks(pid), time.Now()
	start := prevT
	warmup := 3 * time.Second // opening devices and encoders is not steady state
	for {
		time.Sleep(time.Second)
		// The client is not reaped until Wait: once it exits it is a
		// zombie, which kill(pid, 0) still finds but which has no VmRSS.
		c, now := cpuTicks(pid), time.Now()
		rss := rssKB(pid)
		if c < 0 || rss < 0 {
			break
		}
		if now.Sub(start) > warmup && now.Sub(start) < dur {
			samples = append(samples, float64(c-prevCPU)/tick/now.Sub(prevT).Seconds()*100)
			sumRSS += rss
			n++
			peakRSS = max(peakRSS, rss)
		}
		prevCPU, prevT = c, now
	}
	cl.Wait()
	if len(samples) == 0 {
		return fmt.Errorf("no samples: client exited early (%v)", cl.ProcessState)
	}
	avg := 0.0
	peak := 0.0
	for _, s := range samples {
		avg += s
		peak = max(peak, s)
	}
	avg /= float64(len(samples))
	fmt.Printf("\nwhole client, camera=%s screen=%s, %d one-second samples after %s warm-up\n", camera, screen, len(samples), warmup)
	fmt.Printf("  CPU  avg %5.1f %% of one core   peak %5.1f %%   (goal <= 25 %%)   %s\n", avg, peak, verdict(avg <= 25))
	fmt.Printf("  RSS  avg %5.1f MB             peak %5.1f MB  (goal <= 150 MB)  %s\n", float64(sumRSS)/float64(n)/1024, float64(peakRSS)/1024, verdict(float64(peakRSS)/1024 <= 150))
	if s := strings.TrimSpace(stdout.String()); s != "" {
		lines := strings.Split(s, "\n")
		fmt.Println("  summary:", lines[len(lines)-1])
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "OVER"
}

func movingScreen() (string, func(), error) {
	srv, err := xvfb.Start("1920x1080x24")
	if err != nil {
		return "", nil, err
	}
	play := exec.Command("ffplay", "-loglevel", "quiet", "-nostats", "-an", "-noborder", "-left", "0", "-top", "0",
		"-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=10")
	play.Env = append(os.Environ(), "DISPLAY="+srv.Display(), "SDL_VIDEODRIVER=x11", "SDL_AUDIODRIVER=dummy")
	if err := play.Start(); err != nil {
		srv.Close()
		return "", nil, err
	}
	time.Sleep(time.Second)
	return srv.Display(), func() {
		play.Process.Kill()
		play.Wait()
		srv.Close()
	}, nil
}

// cpuTicks is utime+stime of pid in clock ticks, -1 if unreadable.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return -1
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return -1
}

// sysconfClockTicks is USER_HZ, 100 on every Linux Go supports.
func sysconfClockTicks() float64 { return 100 }
