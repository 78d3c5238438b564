package client_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/flowtest"
)

// startFlow runs a flow over env and stops it when the test ends.
func startFlow(t *testing.T, env client.Env, opts client.FlowOptions) *client.Flow {
	t.Helper()
	opts.Env = env
	if opts.Config.SpoolDir == "" {
		opts.Config.SpoolDir = t.TempDir()
	}
	if opts.Tick == 0 {
		opts.Tick = 5 * time.Millisecond
	}
	if opts.RoomScan == 0 {
		opts.RoomScan, opts.RoomScanShots = 30*time.Millisecond, 2
	}
	f := client.NewFlow(opts)
	ctx, cancel := context.WithCancel(context.Background())
	go f.Run(ctx)
	t.Cleanup(func() {
		cancel()
		<-f.Done()
	})
	return f
}

// TestJoinTypedServerWithoutScheme: an address typed without a scheme is
// https, except on this computer (the demo's http://127.0.0.1:port).
func TestJoinTypedServerWithoutScheme(t *testing.T) {
	noLeaks(t)
	for _, c := range []struct{ typed, want string }{
		{"localhost:8080", "http://localhost:8080"},
		{"127.0.0.1:39211", "http://127.0.0.1:39211"},
		{"exam.example.org", "https://exam.example.org"},
		{"exam.example.org:8080", "https://exam.example.org:8080"},
	} {
		t.Run(c.typed, func(t *testing.T) {
			f := startFlow(t, &flowtest.Env{}, client.FlowOptions{})
			waitState(t, f, "join", on(client.ScreenJoin))
			f.Join(c.typed, "PHYS1")
			s := waitState(t, f, "check", on(client.ScreenCheck))
			if s.Server != c.want {
				t.Fatalf("typed %q: joined %q, want %q", c.typed, s.Server, c.want)
			}
		})
	}
}

// noLeaks checks, after the flows' cleanups, that no goroutine is left.
func noLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// realJoinErr is the error RealEnv.Join returns for server.
func realJoinErr(t *testing.T, server string) error {
	t.Helper()
	env := &client.RealEnv{HTTP: &http.Client{Timeout: 5 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := env.Join(ctx, client.JoinOptions{Server: server, Code: "PHYS1", SpoolDir: t.TempDir()})
	if err == nil {
		t.Fatalf("joining %s worked", server)
	}
	return err
}

// TestUnreachableSaysWhy: each way of not reaching the server has its own
// words (not always "check Wi-Fi"), classified by the error's type; the
// errors come from real connections on loopback where they can.
func TestUnreachableSaysWhy(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := closed.Addr().String()
	closed.Close()
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler()) // a certificate nobody trusts
	defer tlsSrv.Close()
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer bad.Close()
	offline := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ENETUNREACH}}

	for _, c := range []struct {
		name  string
		err   error
		cause client.NetCause
		title string
		says  string // in the message
	}{
		{"refused", realJoinErr(t, "http://"+refusedAddr), client.CauseRefused, "The exam server is not answering", "refused the connection"},
		{"certificate", realJoinErr(t, tlsSrv.URL), client.CauseTLS, "The exam server's certificate is not valid", "date and time"},
		{"http on https", realJoinErr(t, strings.Replace(plain.URL, "http://", "https://", 1)), client.CauseNotTLS, "The server does not answer securely", "http://"},
		{"404", realJoinErr(t, plain.URL), client.CauseHTTP, "The exam server answered with an error", "error 404 (Not Found)"},
		{"502", realJoinErr(t, bad.URL), client.CauseHTTP, "The exam server answered with an error", "error 502 (Bad Gateway)"},
		{"name not found", &net.DNSError{Err: "no such host", Name: "exam.example.org", IsNotFound: true}, client.CauseNotFound, "No server has this name", "exam.example.org was not found"},
		{"offline", offline, client.CauseOffline, "This computer is offline", "Wi-Fi"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.err
			if !strings.Contains(err.Error(), client.ErrUnreachable.Error()) {
				err = &wrapped{err}
			}
			env := &flowtest.Env{JoinErrs: []error{err}}
			f := startFlow(t, env, client.FlowOptions{RetryMin: time.Hour})
			f.Join("exam.example.org", "PHYS1")
			s := waitState(t, f, "error", on(client.ScreenError))
			e := s.Error
			if e.Kind != client.ErrorUnreachable || e.Cause != c.cause || e.Title != c.title || !strings.Contains(e.Message, c.says) {
				t.Fatalf("%v:\n got %s %s %q: %q\nwant %s %q with %q", c.err, e.Kind, e.Cause, e.Title, e.Message, c.cause, c.title, c.says)
			}
			if c.cause != client.CauseOffline && c.cause != client.CauseDNS && strings.Contains(e.Message, "Wi-Fi or network cable") {
				t.Errorf("%s blames the Wi-Fi: %q", c.name, e.Message)
			}
		})
	}
}

// wrapped is an error the way client.Join returns a connection failure.
type wrapped struct{ err error }

func (w *wrapped) Error() string { return client.ErrUnreachable.Error() + ": " + w.err.Error() }
func (w *wrapped) Unwrap() []error {
	return []error{client.ErrUnreachable, w.err}
}

// TestUnreachableEditServer: the error screen lets the student correct the
// address and code, and joins what they typed; a server the machine
// configuration fixes offers no such button.
func TestUnreachableEditServer(t *testing.T) {
	noLeaks(t)
	refused := &wrapped{&net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}}
	env := &flowtest.Env{JoinErrs: []error{refused}}
	f := startFlow(t, env, client.FlowOptions{RetryMin: time.Hour, Link: "invigil://join?server=https://exam.exmaple.org&code=PHYS1"})
	s := waitState(t, f, "error", on(client.ScreenError))
	if !hasAction(s.Error.Actions, client.ActionEditServer) {
		t.Fatalf("actions %v: no way to change the address", s.Error.Actions)
	}
	f.EditServer()
	s = waitState(t, f, "join", on(client.ScreenJoin))
	if s.Join.Server != "https://exam.exmaple.org" || s.Join.Code != "PHYS1" || !s.Join.ServerEditable {
		t.Fatalf("join screen %+v, want the failed server and code, editable", s.Join)
	}
	f.Join("exam.example.org", "PHYS1")
	if s = waitState(t, f, "check", on(client.ScreenCheck)); s.Server != "https://exam.example.org" {
		t.Fatalf("joined %q", s.Server)
	}

	env = &flowtest.Env{JoinErrs: []error{refused}}
	f = startFlow(t, env, client.FlowOptions{RetryMin: time.Hour, Code: "PHYS1",
		Config: client.Config{Server: "https://exam.example.org", OnlyServer: true}})
	s = waitState(t, f, "error", on(client.ScreenError))
	if hasAction(s.Error.Actions, client.ActionEditServer) {
		t.Fatalf("actions %v: the machine configuration fixes the server", s.Error.Actions)
	}
	f.EditServer() // ignored
	time.Sleep(20 * time.Millisecond)
	if s := f.Current(); s.Screen != client.ScreenError {
		t.Fatalf("EditServer with a fixed server went to %s", s.Screen)
	}
}

func hasAction(as []client.Action, a client.Action) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// saverEnv is flowtest's environment that saves receipts into dir, as
// RealEnv does into the documents folder.
type saverEnv struct {
	*flowtest.Env
	dir string
}

func (e saverEnv) SaveReceipt(r client.ReceiptRecord) (client.ReceiptFiles, error) {
	return client.SaveReceipt(e.dir, r)
}

// toExamFromCode joins with a code and goes through the check to the exam.
func toExamFromCode(t *testing.T, env client.Env, fe *flowtest.Env) (*client.Flow, *flowtest.Exam) {
	t.Helper()
	f := startFlow(t, env, client.FlowOptions{Code: "PHYS1", Config: client.Config{Server: "https://e.example"}})
	waitState(t, f, "check ready", func(s client.State) bool { return s.Screen == client.ScreenCheck && s.Check.CanContinue })
	return f, checkToExam(t, f, fe)
}

// TestReceiptSaved: the receipt is saved as text and JSON, and the state
// says where; an Env that cannot save says why.
func TestReceiptSaved(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	fe := &flowtest.Env{}
	f, _ := toExamFromCode(t, saverEnv{fe, dir}, fe)
	f.RequestFinish()
	waitState(t, f, "confirmation", func(s client.State) bool { return s.Exam != nil && s.Exam.ConfirmFinish })
	f.ConfirmFinish()
	s := waitState(t, f, "receipt", on(client.ScreenReceipt))
	r := s.Receipt
	if r.Saved.Text == "" || filepath.Dir(r.Saved.Text) != dir || r.SaveProblem != "" {
		t.Fatalf("receipt saved %+v problem %q, want a file in %s", r.Saved, r.SaveProblem, dir)
	}
	b, err := os.ReadFile(r.Saved.JSON)
	if err != nil {
		t.Fatal(err)
	}
	var rec client.ReceiptRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Exam == "" || rec.SessionID != r.Receipt.SessionID || rec.Digest != r.Receipt.ClientDigest || rec.StartedAt.IsZero() || rec.FinishedAt.IsZero() {
		t.Fatalf("saved receipt %+v, state %+v", rec, r.Receipt)
	}
	if txt, _ := os.ReadFile(r.Saved.Text); !strings.Contains(string(txt), r.Receipt.ClientDigest) {
		t.Fatalf("text receipt without the digest:\n%s", txt)
	}

	// A folder that cannot be written: the receipt screen says so.
	fe = &flowtest.Env{}
	f, _ = toExamFromCode(t, saverEnv{fe, filepath.Join(dir, "missing")}, fe)
	f.RequestFinish()
	waitState(t, f, "confirmation", func(s client.State) bool { return s.Exam != nil && s.Exam.ConfirmFinish })
	f.ConfirmFinish()
	s = waitState(t, f, "receipt", on(client.ScreenReceipt))
	if s.Receipt.Saved.Text != "" || s.Receipt.SaveProblem == "" {
		t.Fatalf("saved %+v problem %q", s.Receipt.Saved, s.Receipt.SaveProblem)
	}
}
