// Command invigild is Invigil's reference backend: it hands out signed exam
// policies, ingests what clients stream and stores it exactly once, and lists
// sessions and events.
//
//	invigild serve    --addr ADDR --data DIR [--demo] [--tls-cert C --tls-key K]
//	                  [--upload-grace D] [--token-lifetime D] [--body-timeout D]
//	                  [--join-rate N --join-burst N] [--trusted-proxy CIDRS] [--no-rate-limit]
//	                  [--download-url URL] [--pprof 127.0.0.1:PORT]
//	invigild key      --data DIR
//	invigild exam     create|list --data DIR ...
//	invigild sessions --data DIR [--json]
//	invigild events   --data DIR --session ID [--json]
//	invigild user     add|list|assign|passwd|disable|enable --data DIR ...
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/invigil/invigil/backend"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usageText = `usage: invigild <command> [flags]

  serve     run the backend (--addr, --data, --demo, limits: see -h)
  key       print the policy-signing public key that clients pin
  exam      create or list exams
  sessions  list sessions with per-track counts
  events    list a session's events (violations, focus, chat...)
  user      manage dashboard users: add, list, assign, passwd, disable
  retention delete attempts past their exam's retention_days now (not those on hold)

Run 'invigild <command> -h' for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usageText)
		return 0
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"serve":     cmdServe,
		"key":       cmdKey,
		"exam":      cmdExam,
		"sessions":  cmdSessions,
		"events":    cmdEvents,
		"user":      cmdUser,
		"retention": cmdRetention,
	}
	f, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "invigild: unknown command %q\n\n%s", args[0], usageText)
		return 2
	}
	err := f(ctx, args[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "invigild %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "invigild %s: %v\n", args[0], err)
		return 1
	}
}

type usageError struct{ error }

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("invigild "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses flags and rejects stray arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// openData parses a data command's flags and opens the backend in *data.
// openData parses the flags, runs check (the command's own flag checks, if
// any) and opens the backend in the existing data directory.
func openData(fs *flag.FlagSet, args []string, data *string, check func() error) (*backend.Backend, error) {
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if err := requireData(*data); err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, err
		}
	}
	// Only serve creates a data directory: a typo here must not start a
	// new, empty backend.
	if st, err := os.Stat(*data); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s is not a backend data directory (invigild serve --data creates one)", *data)
	}
	return backend.Open(backend.Config{DataDir: *data})
}

func requireData(dir string) error {
	if dir == "" {
		return usageError{errors.New("--data DIR is required")}
	}
	return nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (host:port; port 0 picks a free one)")
	data := fs.String("data", "", "data directory (database, recordings, keys)")
	demo := fs.Bool("demo", false, "create the demo exam (join code DEMO) if missing")
	hb := fs.Duration("heartbeat", 10*time.Second, "heartbeat interval clients are told to use")
	certFile := fs.String("tls-cert", "", "TLS certificate (PEM); serve HTTPS with --tls-key")
	keyFile := fs.String("tls-key", "", "TLS private key (PEM)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	bodyTimeout := fs.Duration("body-timeout", 20*time.Second, "time to read a request body (the network test gets 6x)")
	grace := fs.Duration("upload-grace", 30*time.Minute, "how long after the exam closes, or a proctor's end, a session may still upload")
	lifetime := fs.Duration("token-lifetime", 24*time.Hour, "session token lifetime for exams without a closing time")
	joinRate := fs.Float64("join-rate", 10, "joins per second from one source address (IPv4 or IPv6 /64)")
	joinBurst := fs.Int("join-burst", 100, "joins at once from one source address")
	noLimits := fs.Bool("no-rate-limit", false, "turn the rate limits of join and resume off (load tests)")
	proxies := fs.String("trusted-proxy", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For names the client")
	download := fs.String("download-url", "", "where students get the current client (named when a join is refused as client_outdated)")
	retentionEvery := fs.Duration("retention-interval", time.Hour, "how often attempts past their exam's retention_days are deleted (0: never; run 'invigild retention' from cron instead)")
	pprofAddr := fs.String("pprof", "", "serve Go's profiler (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *retentionEvery < 0 {
		return usageError{errors.New("--retention-interval must be 0 (off) or positive")}
	}
	if *download != "" {
		u, err := url.Parse(*download)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return usageError{fmt.Errorf("--download-url: %q is not an http(s) URL", *download)}
		}
	}
	var trusted []netip.Prefix
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pf, err := netip.ParsePrefix(p)
		if err != nil {
			return usageError{fmt.Errorf("--trusted-proxy: %w", err)}
		}
		trusted = append(trusted, pf)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--body-timeout", *bodyTimeout}, {"--upload-grace", *grace}, {"--token-lifetime", *lifetime}} {
		if d.v <= 0 {
			return usageError{fmt.Errorf("%s must be positive", d.name)}
		}
	}
	if *joinRate <= 0 || *joinBurst < 1 {
		return usageError{errors.New("--join-rate and --join-burst must be positive")}
	}
	if err := requireData(*data); err != nil {
		return err
	}
	if (*certFile == "") != (*keyFile == "") {
		return usageError{errors.New("--tls-cert and --tls-key go together")}
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return usageError{fmt.Errorf("--log-level: %w", err)}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	b, err := backend.Open(backend.Config{DataDir: *data, Heartbeat: *hb, Log: log,
		BodyTimeout: *bodyTimeout, UploadGrace: *grace, TokenLifetime: *lifetime, TrustedProxies: trusted, DownloadURL: *download,
		Limits: backend.RateLimits{Off: *noLimits, JoinPerSource: backend.RateLimit{Rate: *joinRate, Burst: *joinBurst}}})
	if err != nil {
		return err
	}
	defer b.Close()
	if *pprofAddr != "" {
		a, stop, err := servePprof(*pprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(stdout, "profiler on http://%s/debug/pprof/\n", a)
	}
	if *demo {
		e, err := b.EnsureDemoExam(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "demo exam %q: join code %s\n", e.Name, e.Code)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *retentionEvery > 0 {
		rctx, stopRetention := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); b.RetentionLoop(rctx, *retentionEvery) }()
		defer func() { stopRetention(); <-done }()
	}
	scheme := "http"
	if *certFile != "" {
		scheme = "https"
	}
	srv := backend.HTTPServer(b.Handler())
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	fmt.Fprintf(stdout, "public key: %s\n", b.PublicKey())
	fmt.Fprintf(stdout, "admin token: in %s\n", strings.TrimSuffix(*data, "/")+"/admin.token")
	fmt.Fprintf(stdout, "listening on %s://%s\n", scheme, ln.Addr())
	if f, ok := stdout.(*os.File); ok {
		f.Sync()
	}
	errc := make(chan error, 1)
	go func() {
		if *certFile != "" {
			errc <- srv.ServeTLS(ln, *certFile, *keyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return b.Close()
}

func cmdKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("key", stderr)
	data := fs.String("data", "", "data directory")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := requireData(*data); err != nil {
		return err
	}
	k, err := backend.PublicKeyOf(*data)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, k)
	return nil
}

func cmdExam(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list") {
		return usageError{errors.New("want 'exam create' or 'exam list'")}
	}
	sub := args[0]
	fs := newFlags("exam "+sub, stderr)
	data := fs.String("data", "", "data directory")
	asJSON := fs.Bool("json", false, "print JSON")
	var name, code, policyFile, opens, closes *string
	if sub == "create" {
		name = fs.String("name", "", "exam name (required)")
		code = fs.String("code", "", "join code (default: a random 8-character code)")
		policyFile = fs.String("policy", "", "policy JSON file (default: the shipped default policy)")
		opens = fs.String("opens", "", "opening time, RFC 3339 (default: open now)")
		closes = fs.String("closes", "", "closing time, RFC 3339 (default: never closes)")
	}
	b, err := openData(fs, args[1:], data, func() error {
		if sub == "create" && *name == "" {
			return usageError{errors.New("--name is required")}
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer b.Close()
	if sub == "list" {
		exams, err := b.ListExams(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, exams)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCODE\tNAME\tOPENS\tCLOSES")
		for _, e := range exams {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, e.Code, e.Name, fmtTime(e.OpensAt), fmtTime(e.ClosesAt))
		}
		return tw.Flush()
	}
	spec := backend.ExamSpec{Name: *name, Code: *code}
	if *policyFile != "" {
		if spec.Policy, err = os.ReadFile(*policyFile); err != nil {
			return err
		}
	}
	for _, t := range []struct {
		s   string
		dst *time.Time
		f   string
	}{{*opens, &spec.OpensAt, "--opens"}, {*closes, &spec.ClosesAt, "--closes"}} {
		if t.s == "" {
			continue
		}
		if *t.dst, err = time.Parse(time.RFC3339, t.s); err != nil {
			return usageError{fmt.Errorf("%s: want RFC 3339 such as 2026-12-01T09:00:00Z: %w", t.f, err)}
		}
	}
	e, err := b.CreateExam(ctx, spec)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, e)
	}
	fmt.Fprintf(stdout, "created exam %s %q: join code %s\n", e.ID, e.Name, e.Code)
	return nil
}

func cmdSessions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sessions", stderr)
	data := fs.String("data", "", "data directory")
	asJSON := fs.Bool("json", false, "print JSON")
	b, err := openData(fs, args, data, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	ss, err := b.ListSessions(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, ss)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tEXAM\tSTATE\tLAST ACK\tTRACKS")
	for _, s := range ss {
		var tr []string
		for _, t := range s.Tracks {
			tr = append(tr, fmt.Sprintf("%s:%d", t.Name, t.Messages))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.ID, s.ExamName, s.State, s.LastAck, strings.Join(tr, " "))
	}
	return tw.Flush()
}

func cmdEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("events", stderr)
	data := fs.String("data", "", "data directory")
	session := fs.String("session", "", "session id (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	b, err := openData(fs, args, data, func() error {
		if *session == "" {
			return usageError{errors.New("--session ID is required")}
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer b.Close()
	evs, err := b.ListEvents(ctx, *session)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, evs)
	}
	for _, e := range evs {
		fmt.Fprintf(stdout, "%6d  %s  %-22s %s\n", e.Seq, e.Time.Format(time.RFC3339Nano), e.Type, e.Body)
	}
	return nil
}

// printJSON encodes v whole before writing: an error prints nothing.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// cmdRetention runs the retention job once (for cron, or before a backup).
func cmdRetention(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("retention", stderr)
	data := fs.String("data", "", "data directory")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	b, err := openData(fs, args, data, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	rep, err := b.RunRetention(ctx)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if encErr := enc.Encode(rep); encErr != nil && err == nil {
			err = encErr
		}
		return err
	}
	for _, id := range rep.Purged {
		fmt.Fprintf(stdout, "deleted %s\n", id)
	}
	for _, id := range rep.Held {
		fmt.Fprintf(stdout, "kept %s (legal hold)\n", id)
	}
	fmt.Fprintf(stdout, "%d attempts deleted, %d kept on hold\n", len(rep.Purged), len(rep.Held))
	return err
}
