//go:build linux

// Command encbench compares Invigil's capture encoder with ffmpeg's libx264
// on the same raw frames: CPU time, PSNR against the source and achieved
// bitrate. bench/capture/encoder.sh runs it; see that script for usage.
//
// Modes:
//
//	compare (default)  runs "encode" and ffmpeg/libx264 as child processes
//	                   (CPU = the child's user+sys time, both reading the
//	                   same raw file), decodes both with ffmpeg and prints
//	                   a table and the ratios against the goals.
//	encode             feeds the raw file through capture.Encoder, the
//	                   pipeline every camera Stream runs (pacing, bitrate
//	                   ceiling, keyframe timing, rate correction, openh264
//	                   with Invigil's parameters); writes Annex-B plus the
//	                   index of each input frame that produced output.
//	sweep              encodes the preloaded frames with mediadevices'
//	                   openh264 codec directly under several parameter
//	                   sets, to choose the ones capture uses.
//
// A frame the encoder drops (rate control skip or bitrate ceiling) is
// scored as the previous decoded frame repeated, which is what a player
// shows.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/invigil/invigil/capture"
	"github.com/pion/mediadevices/pkg/codec/openh264"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

type opts struct {
	in     string
	w, h   int
	fps    float64
	kbps   int
	work   string
	keyint time.Duration
}

func main() {
	var o opts
	var size, mode string
	flag.StringVar(&o.in, "in", "", "raw yuv420p input (scene.sh output)")
	flag.StringVar(&size, "size", "640x480", "frame size")
	flag.Float64Var(&o.fps, "fps", 15, "input and target frame rate")
	flag.IntVar(&o.kbps, "kbps", 150, "target bitrate")
	flag.StringVar(&o.work, "work", "", "directory for encoded files (default: a temporary one)")
	flag.DurationVar(&o.keyint, "keyint", 2*time.Second, "our keyframe interval (the camera default)")
	flag.StringVar(&mode, "mode", "compare", "compare | encode | sweep")
	out := flag.String("out", "", "encode mode: output .h264 (index written to OUT.idx)")
	flag.Parse()
	if _, err := fmt.Sscanf(size, "%dx%d", &o.w, &o.h); err != nil {
		fail(fmt.Errorf("-size %q: %w", size, err))
	}
	if o.in == "" {
		fail(errors.New("-in is required"))
	}
	var err error
	switch mode {
	case "compare":
		err = compare(o)
	case "encode":
		err = encode(o, *out)
	case "sweep":
		err = sweep(o)
	default:
		err = fmt.Errorf("unknown -mode %q", mode)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "encbench:", err)
	os.Exit(1)
}

func (o opts) frameSize() int { return o.w * o.h * 3 / 2 }

func (o opts) frames() (int, error) {
	fi, err := os.Stat(o.in)
	if err != nil {
		return 0, err
	}
	return int(fi.Size() / int64(o.frameSize())), nil
}

func (o opts) seconds(n int) float64 { return float64(n) / o.fps }

// yuvImage wraps one raw I420 frame without copying.
func (o opts) yuvImage(b []byte) *image.YCbCr {
	ys := o.w * o.h
	return &image.YCbCr{
		Y: b[:ys], Cb: b[ys : ys*5/4], Cr: b[ys*5/4 : ys*3/2],
		YStride: o.w, CStride: o.w / 2,
		SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect:           image.Rect(0, 0, o.w, o.h),
	}
}

// encode is the child process measured for "ours": read, encode, write.
func encode(o opts, out string) error {
	f, err := os.Open(o.in)
	if err != nil {
		return err
	}
	defer f.Close()
	enc, err := capture.NewEncoder(capture.Config{FPS: o.fps, BitrateKbps: o.kbps, KeyframeInterval: o.keyint}, false, nil)
	if err != nil {
		return err
	}
	defer enc.Close()
	dst, err := os.Create(out)
	if err != nil {
		return err
	}
	defer dst.Close()
	bw := bufio.NewWriter(dst)
	var idx bytes.Buffer
	r := bufio.NewReaderSize(f, 1<<20)
	buf := make([]byte, o.frameSize())
	t0 := time.Unix(1_700_000_000, 0)
	for i := 0; ; i++ {
		if _, err := io.ReadFull(r, buf); err != nil {
			break
		}
		t := t0.Add(time.Duration(float64(i) / o.fps * float64(time.Second)))
		fr, ok, err := enc.Encode(o.yuvImage(buf), t)
		if err != nil {
			return err
		}
		if ok {
			bw.Write(fr.Data)
			fmt.Fprintln(&idx, i)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	st := enc.Stats()
	fmt.Fprintf(os.Stderr, "ours: %+v\n", st)
	return os.WriteFile(out+".idx", idx.Bytes(), 0o644)
}

// result is one row of the table.
type result struct {
	name     string
	cpu      time.Duration
	bytes    int64
	frames   int // encoded frames
	psnrY    float64
	psnrAll  float64
	note     string
	isOurs   bool
	isX264   bool
	inFrames int
}

func (r result) kbps(o opts) float64 { return float64(r.bytes) * 8 / o.seconds(r.inFrames) / 1000 }

// runChild runs a command and returns its CPU time (user+sys).
func runChild(name string, args ...string) (time.Duration, error) {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s: %w: %s", name, err, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

func x264Args(o opts, out string, extra ...string) []string {
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", o.w, o.h), "-r", fmt.Sprint(o.fps), "-i", o.in,
		"-threads", "1", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-b:v", fmt.Sprintf("%dk", o.kbps)}
	args = append(args, extra...)
	return append(args, "-f", "h264", out)
}

func compare(o opts) error {
	n, err := o.frames()
	if err != nil {
		return err
	}
	work := o.work
	if work == "" {
		if work, err = os.MkdirTemp("", "encbench"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	const runs = 3 // CPU: best of three, the machine is shared
	best := func(f func() (time.Duration, error)) (time.Duration, error) {
		var min time.Duration
		for i := 0; i < runs; i++ {
			d, err := f()
			if err != nil {
				return 0, err
			}
			if i == 0 || d < min {
				min = d
			}
		}
		return min, nil
	}

	var rows []result
	oursOut := filepath.Join(work, "ours.h264")
	cpu, err := best(func() (time.Duration, error) {
		return runChild(self, "-mode", "encode", "-in", o.in, "-size", fmt.Sprintf("%dx%d", o.w, o.h),
			"-fps", fmt.Sprint(o.fps), "-kbps", fmt.Sprint(o.kbps), "-keyint", o.keyint.String(), "-out", oursOut)
	})
	if err != nil {
		return err
	}
	idx, err := readIndex(oursOut + ".idx")
	if err != nil {
		return err
	}
	rows = append(rows, result{name: "ours (capture.Encoder, openh264)", cpu: cpu, isOurs: true, frames: len(idx),
		note: fmt.Sprintf("keyframe every %v", o.keyint)})

	x264Out := filepath.Join(work, "x264.h264")
	cpu, err = best(func() (time.Duration, error) { return runChild("ffmpeg", x264Args(o, x264Out)...) })
	if err != nil {
		return err
	}
	rows = append(rows, result{name: "x264 ultrafast zerolatency", cpu: cpu, isX264: true, frames: n, note: "baseline, x264 default GOP 250"})

	// Context only: x264 with our keyframe spacing.
	x264g := filepath.Join(work, "x264g.h264")
	gop := int(o.keyint.Seconds()*o.fps + 0.5)
	cpu, err = best(func() (time.Duration, error) {
		return runChild("ffmpeg", x264Args(o, x264g, "-g", fmt.Sprint(gop))...)
	})
	if err != nil {
		return err
	}
	rows = append(rows, result{name: fmt.Sprintf("x264 same, -g %d", gop), cpu: cpu, frames: n, note: "context: our keyframe spacing"})

	files := []string{oursOut, x264Out, x264g}
	for i := range rows {
		fi, err := os.Stat(files[i])
		if err != nil {
			return err
		}
		rows[i].bytes = fi.Size()
		rows[i].inFrames = n
		var index []int
		if rows[i].isOurs {
			index = idx
		}
		if rows[i].psnrY, rows[i].psnrAll, err = psnr(o, files[i], index, n); err != nil {
			return fmt.Errorf("%s: %w", rows[i].name, err)
		}
	}
	printTable(o, n, rows)
	return nil
}

func readIndex(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var idx []int
	for _, f := range strings.Fields(string(b)) {
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		idx = append(idx, v)
	}
	return idx, nil
}

var psnrRe = regexp.MustCompile(`PSNR y:([0-9.]+|inf) u:[0-9.inf]+ v:[0-9.inf]+ average:([0-9.]+|inf)`)

// psnr decodes an Annex-B file, repeats decoded frames over the inputs the
// encoder dropped (index: input frame of each output frame; nil = none
// dropped) and compares with the source using ffmpeg's psnr filter.
func psnr(o opts, h264 string, index []int, n int) (y, all float64, err error) {
	dec := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "h264", "-i", h264,
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-")
	decOut, err := dec.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	var decErr bytes.Buffer
	dec.Stderr = &decErr
	size := fmt.Sprintf("%dx%d", o.w, o.h)
	cmp := exec.Command("ffmpeg", "-hide_banner",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", size, "-r", fmt.Sprint(o.fps), "-i", "-",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", size, "-r", fmt.Sprint(o.fps), "-i", o.in,
		"-lavfi", "[0:v][1:v]psnr", "-f", "null", "-")
	cmpIn, err := cmp.StdinPipe()
	if err != nil {
		return 0, 0, err
	}
	var cmpErr bytes.Buffer
	cmp.Stderr = &cmpErr
	if err := dec.Start(); err != nil {
		return 0, 0, err
	}
	if err := cmp.Start(); err != nil {
		dec.Process.Kill()
		dec.Wait()
		return 0, 0, err
	}
	copyErr := expand(bufio.NewReaderSize(decOut, 1<<20), cmpIn, o.frameSize(), index, n)
	cmpIn.Close()
	io.Copy(io.Discard, decOut)
	if err := dec.Wait(); err != nil {
		cmp.Wait()
		return 0, 0, fmt.Errorf("decode: %w: %s", err, decErr.String())
	}
	if err := cmp.Wait(); err != nil {
		return 0, 0, fmt.Errorf("psnr: %w: %s", err, cmpErr.String())
	}
	if copyErr != nil {
		return 0, 0, copyErr
	}
	m := psnrRe.FindStringSubmatch(cmpErr.String())
	if m == nil {
		return 0, 0, fmt.Errorf("no PSNR in ffmpeg output: %s", cmpErr.String())
	}
	y, _ = strconv.ParseFloat(m[1], 64)
	all, _ = strconv.ParseFloat(m[2], 64)
	return y, all, nil
}

// expand writes n frames: decoded frame k stands for inputs index[k] up to
// index[k+1]-1; before the first output the first frame is used.
func expand(dec io.Reader, out io.Writer, fs int, index []int, n int) error {
	cur := make([]byte, fs)
	next := make([]byte, fs)
	if _, err := io.ReadFull(dec, cur); err != nil {
		return fmt.Errorf("no decoded frame: %w", err)
	}
	k := 0 // output frame in cur
	for i := 0; i < n; i++ {
		// Advance while the next decoded frame belongs to input i.
		for index != nil && k+1 < len(index) && index[k+1] <= i {
			if _, err := io.ReadFull(dec, next); err != nil {
				return fmt.Errorf("decoded %d frames, index lists %d: %w", k+1, len(index), err)
			}
			cur, next = next, cur
			k++
		}
		if index == nil && i > 0 {
			if _, err := io.ReadFull(dec, cur); err != nil {
				return fmt.Errorf("decoded %d of %d frames: %w", i, n, err)
			}
		}
		if _, err := out.Write(cur); err != nil {
			return err
		}
	}
	return nil
}

func printTable(o opts, n int, rows []result) {
	fmt.Printf("input: %s, %d frames %dx%d@%g (%.1f s), target %d kbps\n\n", filepath.Base(o.in), n, o.w, o.h, o.fps, o.seconds(n), o.kbps)
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "encoder\tCPU s\tframes\tkbps\tvs target\tPSNR Y dB\tPSNR avg dB\tnote")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.3f\t%d\t%.1f\t%+.1f%%\t%.2f\t%.2f\t%s\n", r.name, r.cpu.Seconds(), r.frames,
			r.kbps(o), (r.kbps(o)/float64(o.kbps)-1)*100, r.psnrY, r.psnrAll, r.note)
	}
	tw.Flush()
	ours, x := rows[0], rows[1]
	ratio := ours.cpu.Seconds() / x.cpu.Seconds()
	dpsnr := ours.psnrAll - x.psnrAll
	berr := (ours.kbps(o)/float64(o.kbps) - 1) * 100
	ok := func(b bool) string {
		if b {
			return "met"
		}
		return "MISSED"
	}
	fmt.Println()
	fmt.Printf("CPU time ours/x264:          %.2fx   (goal <= 1.0x: %s)\n", ratio, ok(ratio <= 1.0))
	fmt.Printf("PSNR ours - x264 (avg):      %+.2f dB (goal >= -0.5 dB: %s)\n", dpsnr, ok(dpsnr >= -0.5))
	fmt.Printf("bitrate ours vs target:      %+.1f%%  (goal within 10%%: %s)\n", berr, ok(berr <= 10 && berr >= -10))
}

// sweep tries openh264 parameter sets on the raw encoder (no pipeline) to
// pick capture's; each row is one build of mediadevices' codec.
func sweep(o opts) error {
	n, err := o.frames()
	if err != nil {
		return err
	}
	data, err := os.ReadFile(o.in)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "encsweep")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	type variant struct {
		name string
		set  func(p *openh264.Params)
	}
	intra := uint(o.keyint.Seconds()*o.fps + 0.5)
	variants := []variant{
		{"mediadevices defaults (auto threads, size-limited slices)", func(p *openh264.Params) { p.IntraPeriod = intra }},
		{"1 thread", func(p *openh264.Params) { p.IntraPeriod = intra; p.MultipleThreadIdc = 1 }},
		{"1 thread, single slice", func(p *openh264.Params) {
			p.IntraPeriod = intra
			p.MultipleThreadIdc = 1
			p.SliceMode = openh264.SMSingleSlice
		}},
		{"  + frame skip off (capture)", func(p *openh264.Params) {
			p.IntraPeriod = intra
			p.MultipleThreadIdc = 1
			p.SliceMode = openh264.SMSingleSlice
			p.EnableFrameSkip = false
		}},
		{"  + RC quality mode", func(p *openh264.Params) {
			p.IntraPeriod = intra
			p.MultipleThreadIdc = 1
			p.SliceMode = openh264.SMSingleSlice
			p.RCMode = openh264.RCQualityMode
		}},
		{"  + RC timestamp mode (no timestamps given)", func(p *openh264.Params) {
			p.IntraPeriod = intra
			p.MultipleThreadIdc = 1
			p.SliceMode = openh264.SMSingleSlice
			p.RCMode = openh264.RCTimestampMode
		}},
		{"  + screen-content usage", func(p *openh264.Params) {
			p.IntraPeriod = intra
			p.MultipleThreadIdc = 1
			p.SliceMode = openh264.SMSingleSlice
			p.UsageType = openh264.ScreenContentRealTime
		}},
		{"  + 2 threads", func(p *openh264.Params) {
			p.IntraPeriod = intra
			p.MultipleThreadIdc = 2
			p.SliceMode = openh264.SMSingleSlice
		}},
	}
	fmt.Printf("raw openh264 (no pipeline), %d frames %dx%d@%g, %d kbps, IDR every %d frames\n\n", n, o.w, o.h, o.fps, o.kbps, intra)
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "variant\tCPU ms\tskipped\tkbps\tPSNR avg dB")
	for i, v := range variants {
		p, err := openh264.NewParams()
		if err != nil {
			return err
		}
		p.BitRate = o.kbps * 1000
		v.set(&p)
		out := filepath.Join(work, fmt.Sprintf("v%d.h264", i))
		cpu, bytes, index, err := rawEncode(o, p, data, n, out)
		if err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		_, all, err := psnr(o, out, index, n)
		if err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%d\t%.1f\t%.2f\n", v.name, cpu.Seconds()*1000, n-len(index),
			float64(bytes)*8/o.seconds(n)/1000, all)
	}
	tw.Flush()
	fmt.Println("\n(mediadevices v0.10.0 exposes no complexity mode, QP range or scene-change switch.)")
	return nil
}

func rawEncode(o opts, p openh264.Params, data []byte, n int, out string) (time.Duration, int64, []int, error) {
	i := 0
	fs := o.frameSize()
	r := video.ReaderFunc(func() (image.Image, func(), error) {
		if i >= n {
			return nil, func() {}, io.EOF
		}
		img := o.yuvImage(data[i*fs : (i+1)*fs])
		i++
		return img, func() {}, nil
	})
	enc, err := p.BuildVideoEncoder(r, prop.Media{Video: prop.Video{Width: o.w, Height: o.h, FrameRate: float32(o.fps), FrameFormat: frame.FormatI420}})
	if err != nil {
		return 0, 0, nil, err
	}
	defer enc.Close()
	var buf bytes.Buffer
	var index []int
	c0 := cpuNow()
	for {
		k := i
		b, release, err := enc.Read()
		if err != nil {
			break
		}
		release()
		if len(b) > 0 {
			buf.Write(b)
			index = append(index, k)
		}
	}
	cpu := cpuNow() - c0
	return cpu, int64(buf.Len()), index, os.WriteFile(out, buf.Bytes(), 0o644)
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
