//go:build linux

// Command streambench prints the CPU time and memory the capture side of
// the client costs while streaming a camera and a screen: it opens the
// streams exactly as the client does (capture.OpenCamera/OpenScreen with
// the default configs), reads every frame for a while and reports CPU as a
// share of one core, peak RSS and what each stream delivered.
//
// A screen other than "test" needs an X display: streambench starts an
// Xvfb of -size (static content: the cost is in grabbing and converting)
// when DISPLAY is not set, or with -xvfb. bench/capture/streams.sh runs it
// with -xvfb.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/invigil/invigil/capture"
	"github.com/invigil/invigil/capture/xvfb"
)

func main() {
	camera := flag.String("camera", "scene", `camera source ("" none, "test", "scene", a device)`)
	screen := flag.String("screen", "all", `screen source ("" none, "all", "0", "test")`)
	size := flag.String("size", "1920x1080", `size of the "test" screen and of the Xvfb streambench starts`)
	useXvfb := flag.Bool("xvfb", false, "capture an Xvfb streambench starts even if DISPLAY is set")
	d := flag.Duration("d", 30*time.Second, "measuring time")
	warm := flag.Duration("warmup", 3*time.Second, "time before measuring")
	freeOS := flag.Bool("freeos", false, "call debug.FreeOSMemory every second (what a client-side memory policy would save)")
	flag.Parse()
	if err := run(*camera, *screen, *size, *useXvfb, *d, *warm, *freeOS); err != nil {
		fmt.Fprintln(os.Stderr, "streambench:", err)
		os.Exit(1)
	}
}

func run(camera, screen, size string, useXvfb bool, d, warm time.Duration, freeOS bool) error {
	var w, h int
	if _, err := fmt.Sscanf(size, "%dx%d", &w, &h); err != nil {
		return fmt.Errorf("-size: %w", err)
	}
	if screen != "" && screen != "test" && (useXvfb || os.Getenv("DISPLAY") == "") {
		srv, err := xvfb.Start(fmt.Sprintf("%dx%dx24", w, h))
		if err != nil {
			return err
		}
		defer srv.Close()
		os.Setenv("DISPLAY", srv.Display())
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	type stream struct {
		name   string
		s      *capture.Stream
		opened time.Time // when Open was called
	}
	var streams []stream
	if camera != "" {
		cfg := capture.DefaultCameraConfig()
		cfg.Source = camera
		opened := time.Now()
		s, err := capture.OpenCamera(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer s.Close()
		streams = append(streams, stream{"camera " + camera, s, opened})
	}
	if screen != "" {
		cfg := capture.DefaultScreenConfig()
		cfg.Source = screen
		if screen == "test" {
			cfg.Width, cfg.Height = w, h
		}
		opened := time.Now()
		s, err := capture.OpenScreen(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer s.Close()
		streams = append(streams, stream{"screen " + screen, s, opened})
	}
	type count struct {
		frames, bytes int
		w, h          int
		first         time.Duration // from Open to the first encoded frame
	}
	counts := make([]count, len(streams))
	var mu sync.Mutex
	measuring := false
	var wg sync.WaitGroup
	rctx, cancel := context.WithCancel(ctx)
	for i, st := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				f, err := st.s.Read(rctx)
				if err != nil {
					return
				}
				mu.Lock()
				if counts[i].first == 0 {
					counts[i].first = time.Since(st.opened)
				}
				if measuring {
					counts[i].frames++
					counts[i].bytes += len(f.Data)
					counts[i].w, counts[i].h = f.Width, f.Height
				}
				mu.Unlock()
			}
		}()
	}
	if freeOS {
		go func() {
			for range time.Tick(time.Second) {
				debug.FreeOSMemory()
			}
		}()
	}
	time.Sleep(warm)
	mu.Lock()
	measuring = true
	mu.Unlock()
	c0, t0 := cpu(), time.Now()
	time.Sleep(d)
	c1, wall := cpu(), time.Since(t0)
	cancel()
	wg.Wait()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("measured %v after %v warm-up\n", wall.Round(time.Millisecond), warm)
	for i, st := range streams {
		c := counts[i]
		fmt.Printf("  %-14s %dx%d  %5.2f fps  %6.1f kbps  first frame %v after open  %+v\n", st.name, c.w, c.h,
			float64(c.frames)/wall.Seconds(), float64(c.bytes)*8/wall.Seconds()/1000, c.first.Round(time.Millisecond), st.s.Stats())
	}
	fmt.Printf("CPU: %.1f %% of one core (user+sys)\n", 100*(c1-c0).Seconds()/wall.Seconds())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("peak RSS: %.1f MB (Go heap in use %.1f MB, Go runtime total %.1f MB; the rest is C: openh264, Xlib/XShm)\n",
		float64(ru.Maxrss)/1024, float64(ms.HeapInuse)/(1<<20), float64(ms.Sys)/(1<<20))
	return nil
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
