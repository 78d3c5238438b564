package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/client/flowtest"
	"github.com/invigil/invigil/client/launch"
	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
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
	_, err := env.Join(ctx, exam.JoinOptions{Server: server, Code: "PHYS1", SpoolDir: t.TempDir()})
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
			if !strings.Contains(err.Error(), exam.ErrUnreachable.Error()) {
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

// wrapped is an error the way exam.Join returns a connection failure.
type wrapped struct{ err error }

func (w *wrapped) Error() string { return exam.ErrUnreachable.Error() + ": " + w.err.Error() }
func (w *wrapped) Unwrap() []error {
	return []error{exam.ErrUnreachable, w.err}
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
		Config: launch.Config{Server: "https://exam.example.org", OnlyServer: true}})
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

func (e saverEnv) SaveReceipt(r exam.ReceiptRecord) (exam.ReceiptFiles, error) {
	return exam.SaveReceipt(e.dir, r)
}

// toExamFromCode joins with a code and goes through the check to the exam.
func toExamFromCode(t *testing.T, env client.Env, fe *flowtest.Env) (*client.Flow, *flowtest.Exam) {
	t.Helper()
	f := startFlow(t, env, client.FlowOptions{Code: "PHYS1", Config: launch.Config{Server: "https://e.example"}})
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
	var rec exam.ReceiptRecord
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

// TestNoticeWording: the notice is headed with the exam's name (not the
// policy's), counts of one are singular, it always names a contact, the
// decline screen points to the same one, and the notice can be read
// again during the exam.
func TestNoticeWording(t *testing.T) {
	noLeaks(t)
	for _, contact := range []string{"", "exams@example.edu"} {
		p := policy.Default()
		p.Name = "Default proctoring policy"
		p.Capture.Screen.Enabled, p.Capture.Screen.FPS = true, 1
		p.Capture.Camera.Enabled = false // straight to the exam
		p.Privacy.RetentionDays = 1
		p.Privacy.Contact = contact
		env := &flowtest.Env{Policy: p}
		f := startFlow(t, env, client.FlowOptions{Code: "PHYS1", Config: launch.Config{Server: "https://e.example"}})
		waitState(t, f, "check ready", func(s client.State) bool { return s.Screen == client.ScreenCheck && s.Check.CanContinue })
		f.Continue()
		s := waitState(t, f, "consent", on(client.ScreenConsent))
		notice := s.Consent.Notice
		head, _, _ := strings.Cut(notice, "\n")
		if head != "Privacy notice — Physics midterm" {
			t.Errorf("heading %q, want the exam's name", head)
		}
		wantContact := contact
		if contact == "" {
			wantContact = "ask your teacher"
		}
		for _, want := range []string{"1 frame a second", "1 day after the exam", "Questions about your data: " + wantContact} {
			if !strings.Contains(notice, want) {
				t.Errorf("notice lacks %q:\n%s", want, notice)
			}
		}
		if strings.Contains(notice, "1 frames") || strings.Contains(notice, "1 days") {
			t.Errorf("plural for one:\n%s", notice)
		}
		f.Decline()
		s = waitState(t, f, "declined", on(client.ScreenError))
		if !strings.Contains(s.Error.Message, wantContact) {
			t.Errorf("decline screen %q does not name the contact %q", s.Error.Message, wantContact)
		}
		f.BackToNotice()
		waitState(t, f, "consent", on(client.ScreenConsent))
		f.Agree()
		waitState(t, f, "exam", on(client.ScreenExam))
		f.ShowNotice()
		s = waitState(t, f, "notice open", func(s client.State) bool { return s.Exam != nil && s.Exam.NoticeOpen })
		if s.Exam.Notice != notice {
			t.Errorf("notice during the exam %q, want the one agreed to", s.Exam.Notice)
		}
		f.HideNotice()
		waitState(t, f, "notice closed", func(s client.State) bool { return s.Exam != nil && !s.Exam.NoticeOpen })
	}
}

// examNoCamera starts a flow whose exam begins right after consent.
func examNoCamera(t *testing.T, opts client.FlowOptions) (*client.Flow, *flowtest.Exam, *flowtest.Env) {
	t.Helper()
	p := policy.Default()
	p.Capture.Camera.Enabled = false
	env := &flowtest.Env{Policy: p}
	opts.Code, opts.Config = "PHYS1", launch.Config{Server: "https://e.example"}
	f := startFlow(t, env, opts)
	waitState(t, f, "check ready", func(s client.State) bool { return s.Screen == client.ScreenCheck && s.Check.CanContinue })
	f.Continue()
	waitState(t, f, "consent", on(client.ScreenConsent))
	f.Agree()
	waitState(t, f, "exam", on(client.ScreenExam))
	return f, env.Exam(), env
}

// fakeClock is a settable clock for the flow.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestPauseStopsClockAndIsTold: the elapsed time stands still during a
// pause, the messages say when it paused and resumed, a warning stays in
// them after "I understand", and the student can write during a pause.
func TestPauseStopsClockAndIsTold(t *testing.T) {
	noLeaks(t)
	clk := &fakeClock{now: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)}
	f, x, _ := examNoCamera(t, client.FlowOptions{Now: clk.Now})
	clk.add(10 * time.Minute)
	x.Command(transport.Command{ID: "p1", Command: transport.CommandPause, Text: "Show your desk"})
	s := waitState(t, f, "paused", func(s client.State) bool { return s.Exam != nil && s.Exam.Paused })
	clk.add(5 * time.Minute)
	if got := s.Exam.Elapsed(clk.Now()); got != 10*time.Minute {
		t.Errorf("elapsed during a pause %v, want 10m0s (the clock stands still)", got)
	}
	f.Reply("My desk is clear")
	waitState(t, f, "reply during the pause", func(s client.State) bool {
		return s.Exam != nil && len(s.Exam.Messages) > 0 && s.Exam.Messages[len(s.Exam.Messages)-1].Text == "My desk is clear"
	})
	if !x.HasEvent("chat.reply") {
		t.Error("the reply sent during the pause is not an event")
	}
	x.Command(transport.Command{ID: "r1", Command: transport.CommandResume})
	s = waitState(t, f, "resumed", func(s client.State) bool { return s.Exam != nil && !s.Exam.Paused })
	clk.add(time.Minute)
	if got := s.Exam.Elapsed(clk.Now()); got != 11*time.Minute {
		t.Errorf("elapsed after the pause %v, want 11m0s", got)
	}
	x.Command(transport.Command{ID: "w1", Command: transport.CommandWarn, Text: "Eyes on your own screen"})
	waitState(t, f, "warning", func(s client.State) bool { return s.Exam != nil && s.Exam.Warning != nil })
	f.AcknowledgeWarning()
	s = waitState(t, f, "warning gone", func(s client.State) bool { return s.Exam != nil && s.Exam.Warning == nil })
	var kinds []string
	for _, m := range s.Exam.Messages {
		kinds = append(kinds, string(m.Kind)+":"+m.Text)
	}
	want := []string{"paused:Show your desk", ":My desk is clear", "resumed:", "warning:Eyes on your own screen"}
	if strings.Join(kinds, "|") != strings.Join(want, "|") {
		t.Fatalf("messages %q, want %q", kinds, want)
	}
}

// TestReplyQueuedWhileOffline: a reply sent while offline shows as not
// sent yet until the backend has stored it.
func TestReplyQueuedWhileOffline(t *testing.T) {
	noLeaks(t)
	f, x, _ := examNoCamera(t, client.FlowOptions{})
	x.SetConnected(false)
	waitState(t, f, "offline", func(s client.State) bool { return s.Exam != nil && !s.Exam.Connected })
	f.Reply("Is the connection gone?")
	s := waitState(t, f, "reply", func(s client.State) bool { return s.Exam != nil && len(s.Exam.Messages) == 1 })
	if !s.Exam.Messages[0].Pending {
		t.Fatalf("a reply sent offline shows as sent: %+v", s.Exam.Messages[0])
	}
	time.Sleep(20 * time.Millisecond) // ticks while offline keep it pending
	if m := f.Current().Exam.Messages[0]; !m.Pending {
		t.Fatalf("pending cleared while offline: %+v", m)
	}
	x.SetConnected(true)
	waitState(t, f, "reply stored", func(s client.State) bool { return s.Exam != nil && !s.Exam.Messages[0].Pending })
}

// TestAlertsGroupedByProgram: the open violations are split into serious
// and minor ones, a program is named once (not once per pid), and a
// program kept open when asked can be closed later.
func TestAlertsGroupedByProgram(t *testing.T) {
	noLeaks(t)
	f, x, env := examNoCamera(t, client.FlowOptions{})
	open := func(id string, code lockdown.Code, sev lockdown.Severity, summary string, ev map[string]string) {
		x.Hooks.OnViolation(lockdown.Violation{ID: id, Code: code, Severity: sev, Phase: lockdown.PhaseOpen, Summary: summary, Evidence: ev})
	}
	for i, pid := range []string{"4242", "4243", "4244"} {
		open(fmt.Sprint("v", i), lockdown.CodeProcessProhibited, lockdown.SeverityCritical, "anydesk (pid "+pid+") is running",
			map[string]string{"pid": pid, "name": "anydesk", "program": "AnyDesk"})
	}
	open("v9", lockdown.CodeProcessProhibited, lockdown.SeverityWarning, "discord (pid 77) is running",
		map[string]string{"pid": "77", "name": "discord", "program": "Discord"})
	open("v10", lockdown.CodeDisplayCount, lockdown.SeverityWarning, "2 displays connected, the exam allows 1", nil)
	s := waitState(t, f, "alerts", func(s client.State) bool { return s.Exam != nil && len(s.Exam.Alerts) == 3 })
	e := s.Exam
	if strings.Join(e.Serious, "|") != "AnyDesk is running" ||
		strings.Join(e.Minor, "|") != "2 displays connected, the exam allows 1|Discord is running" {
		t.Fatalf("serious %q minor %q", e.Serious, e.Minor)
	}
	if strings.Contains(strings.Join(e.Alerts, " "), "pid") {
		t.Fatalf("alerts name pids: %q", e.Alerts)
	}

	// Keep it open when asked, then close it from the exam screen.
	answer := make(chan bool, 1)
	go func() {
		answer <- x.Hooks.Ask(context.Background(), []lockdown.ProcessFinding{{PID: 77, Name: "discord", Program: "Discord"}})
	}()
	waitState(t, f, "ask", func(s client.State) bool { return s.Exam != nil && len(s.Exam.Ask) == 1 })
	f.AnswerAsk(false)
	if <-answer {
		t.Fatal("kept, but the monitor was told to close")
	}
	s = waitState(t, f, "kept", func(s client.State) bool { return s.Exam != nil && len(s.Exam.Kept) == 1 })
	if s.Exam.Kept[0] != "Discord" {
		t.Fatalf("kept %q", s.Exam.Kept)
	}
	f.CloseKept()
	s = waitState(t, f, "closed", func(s client.State) bool { return s.Exam != nil && len(s.Exam.Kept) == 0 && s.Exam.KeptNote != "" })
	if env.Closed[len(env.Closed)-1] != "discord" || !x.HasEvent("programs.closed") {
		t.Fatalf("closed %q; note %q", env.Closed, s.Exam.KeptNote)
	}
}
