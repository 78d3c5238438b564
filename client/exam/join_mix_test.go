package exam

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/invigil/invigil/client/credstore"
	"github.com/invigil/invigil/transport"
)

// examsServer is a backend with one exam per join code: joining with code
// C opens session s_C (token tok_C); resume answers for the token's session.
type examsServer struct {
	*httptest.Server
	mu      sync.Mutex
	joins   []string // codes joined
	resumes []string // sessions resumed
}

func newExamsServer(t *testing.T) *examsServer {
	t.Helper()
	env, serverKey := signedDefaultPolicy(t)
	es := &examsServer{}
	answer := func(w http.ResponseWriter, code string) {
		resp := transport.JoinResponse{SessionID: "s_" + code, Token: "tok_" + code, Policy: env,
			ServerKey: serverKey, WSURL: "/api/v1/ws", SpoolKey: bytes.Repeat([]byte{1}, 32)}
		resp.Exam = transport.ExamInfo{ID: "e_" + code, Name: "Exam " + code}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(resp)
	}
	es.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		es.mu.Lock()
		defer es.mu.Unlock()
		switch r.URL.Path {
		case "/api/v1/join":
			var req transport.JoinRequest
			json.NewDecoder(r.Body).Decode(&req)
			es.joins = append(es.joins, req.Code)
			answer(w, req.Code)
		case "/api/v1/resume":
			code, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer tok_")
			if !ok {
				transport.WriteAPIError(w, http.StatusUnauthorized, transport.CodeUnauthorized, "bad token")
				return
			}
			es.resumes = append(es.resumes, "s_"+code)
			answer(w, code)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(es.Close)
	return es
}

// fileTokens keeps tokens in the session file, so that these tests do not
// depend on (or fill) this machine's credential store.
func fileTokens(t *testing.T) {
	put := putCredential
	putCredential = func(string, string, []byte) (string, error) { return "", credstore.ErrUnsupported }
	t.Cleanup(func() { putCredential = put })
}

func segment(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readSeg(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	return string(b)
}

// TestNeverMixExams: with an unfinished session of one exam in the spool,
// a code for another exam on the same server does not resume it: the old
// session is kept whole (session file and segments) outside the spool, the
// new exam joins in a clean spool and is told, and the old exam's code
// later resumes it with its recording. Both orders.
func TestNeverMixExams(t *testing.T) {
	for _, order := range [][2]string{{"DEMO", "PHYS1"}, {"PHYS1", "DEMO"}} {
		t.Run(order[0]+"_then_"+order[1], func(t *testing.T) {
			fileTokens(t)
			es := newExamsServer(t)
			a, b := order[0], order[1]
			dir := filepath.Join(t.TempDir(), "sp[o]ol*") // glob characters in the path
			ctx := context.Background()

			ja, err := Join(ctx, JoinOptions{Server: es.URL, Code: a, SpoolDir: dir})
			if err != nil || ja.Resumed {
				t.Fatalf("join %s: %+v, %v", a, ja, err)
			}
			segment(t, dir, "00000000000000000001.seg", "recording of "+a)

			jb, err := Join(ctx, JoinOptions{Server: es.URL, Code: b, SpoolDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if jb.Resumed || jb.Resp.SessionID != "s_"+b {
				t.Fatalf("code %s gave session %s (resumed %v): exams mixed", b, jb.Resp.SessionID, jb.Resumed)
			}
			if jb.SetAside != nil {
				t.Errorf("the unfinished session was set aside as undeliverable: %+v", jb.SetAside)
			}
			if len(jb.Kept) != 1 || jb.Kept[0].SessionID != "s_"+a || jb.Kept[0].Exam != "Exam "+a || jb.Kept[0].Segments != 1 {
				t.Fatalf("kept sessions %+v", jb.Kept)
			}
			if m, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(m) != 0 {
				t.Errorf("exam %s's recording left in the new session's spool: %v", a, m)
			}
			if got := readSeg(jb.Kept[0].Dir, "00000000000000000001.seg"); got != "recording of "+a {
				t.Errorf("kept recording %q", got)
			}
			segment(t, dir, "00000000000000000001.seg", "recording of "+b)

			// The same exam's code resumes it (and its recording), and
			// keeps the other one in turn.
			ja2, err := Join(ctx, JoinOptions{Server: es.URL, Code: strings.ToLower(a), SpoolDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if !ja2.Resumed || ja2.Resp.SessionID != "s_"+a {
				t.Fatalf("code %s again: session %s, resumed %v", a, ja2.Resp.SessionID, ja2.Resumed)
			}
			if got := readSeg(dir, "00000000000000000001.seg"); got != "recording of "+a {
				t.Errorf("resumed spool holds %q", got)
			}
			if len(ja2.Kept) != 1 || ja2.Kept[0].SessionID != "s_"+b {
				t.Fatalf("kept sessions after resuming %s: %+v", a, ja2.Kept)
			}
			if _, err := os.Stat(ja.SpoolDir + ".kept-s_" + a); err == nil {
				t.Errorf("the restored session's kept directory is still there")
			}

			// And the same exam resumes in place, keeping nothing new.
			ja3, err := Join(ctx, JoinOptions{Server: es.URL, Code: a, SpoolDir: dir})
			if err != nil || !ja3.Resumed || ja3.Resp.SessionID != "s_"+a {
				t.Fatalf("restart of %s: %+v, %v", a, ja3, err)
			}
			if len(es.joins) != 2 {
				t.Errorf("joins %v, want one per exam", es.joins)
			}
		})
	}
}

// TestOtherServerKept: a session with another backend is kept, not set
// aside, and resumes when its server is used again.
func TestOtherServerKept(t *testing.T) {
	fileTokens(t)
	s1, s2 := newExamsServer(t), newExamsServer(t)
	dir := filepath.Join(t.TempDir(), "spool")
	ctx := context.Background()
	if _, err := Join(ctx, JoinOptions{Server: s1.URL, Code: "A", SpoolDir: dir}); err != nil {
		t.Fatal(err)
	}
	segment(t, dir, "00000000000000000001.seg", "x")
	j, err := Join(ctx, JoinOptions{Server: s2.URL, Code: "A", SpoolDir: dir})
	if err != nil || j.Resumed || j.SetAside != nil || len(j.Kept) != 1 {
		t.Fatalf("other server: %+v, %v", j, err)
	}
	if j.Kept[0].SameServer {
		t.Errorf("kept session on another server reported as the same server")
	}
	j, err = Join(ctx, JoinOptions{Server: s1.URL, Code: "A", SpoolDir: dir})
	if err != nil || !j.Resumed {
		t.Fatalf("back to the first server: %+v, %v", j, err)
	}
}

// TestOldSessionFileWithoutCode: a session file written before the exam
// code was recorded resumes only on its server when no code is given; a
// code keeps it aside (it might be another exam) without losing it.
func TestOldSessionFileWithoutCode(t *testing.T) {
	fileTokens(t)
	es := newExamsServer(t)
	dir := filepath.Join(t.TempDir(), "spool")
	os.MkdirAll(dir, 0o700)
	if err := writeSessionFile(dir, sessionFile{Server: es.URL, SessionID: "s_OLD", Token: "tok_OLD"}); err != nil {
		t.Fatal(err)
	}
	segment(t, dir, "00000000000000000001.seg", "old")
	ctx := context.Background()
	j, err := Join(ctx, JoinOptions{Server: es.URL, Code: "NEW", SpoolDir: dir})
	if err != nil || j.Resumed || j.Resp.SessionID != "s_NEW" || len(j.Kept) != 1 || j.Kept[0].SessionID != "s_OLD" {
		t.Fatalf("code NEW with an old session file: %+v, %v", j, err)
	}
	// Finishing NEW leaves the spool without a session; no code resumes OLD.
	if err := ForgetSession(dir); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "00000000000000000001.seg"))
	j, err = Join(ctx, JoinOptions{Server: es.URL, SpoolDir: dir})
	if err != nil || !j.Resumed || j.Resp.SessionID != "s_OLD" {
		t.Fatalf("no code: %+v, %v", j, err)
	}
	if got := readSeg(dir, "00000000000000000001.seg"); got != "old" {
		t.Errorf("resumed spool holds %q", got)
	}
}

// TestStartReportsKeptSessions: the proctor of the new session gets a
// spool.other_session_kept event, without the other exam's identity.
func TestStartReportsKeptSessions(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	j := &Joined{Resp: &transport.JoinResponse{SessionID: "s_B", Token: "tok_B", WSURL: strings.Replace(dead.URL, "http", "ws", 1) + "/api/v1/ws",
		SpoolKey: bytes.Repeat([]byte{1}, 32)},
		Server: dead.URL, SpoolDir: filepath.Join(t.TempDir(), "spool"), ConfigKey: strings.Repeat("ab", 32),
		Kept: []KeptSession{{SessionID: "s_A", Exam: "Secret exam A", Code: "DEMO", Segments: 3, SameServer: true}}}
	s, err := Start(j, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	frame, err := s.spool.Read(1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(frame, []byte(`"type":"spool.other_session_kept"`)) || !bytes.Contains(frame, []byte(`"segments":3`)) ||
		!bytes.Contains(frame, []byte(`"same_server":1`)) {
		t.Fatalf("first spooled message %q", frame)
	}
	if bytes.Contains(frame, []byte("Secret")) || bytes.Contains(frame, []byte("DEMO")) {
		t.Errorf("the event names the other exam: %q", frame)
	}
}

// TestKeptSessionBackDespiteOrphans: segments without a session file are
// set aside, and a kept session of the exam asked for still comes back.
func TestKeptSessionBackDespiteOrphans(t *testing.T) {
	fileTokens(t)
	es := newExamsServer(t)
	dir := filepath.Join(t.TempDir(), "spool")
	ctx := context.Background()
	if _, err := Join(ctx, JoinOptions{Server: es.URL, Code: "A", SpoolDir: dir}); err != nil {
		t.Fatal(err)
	}
	segment(t, dir, "00000000000000000001.seg", "A")
	if _, err := Join(ctx, JoinOptions{Server: es.URL, Code: "B", SpoolDir: dir}); err != nil {
		t.Fatal(err)
	}
	segment(t, dir, "00000000000000000001.seg", "B")
	os.Remove(filepath.Join(dir, sessionFileName))
	j, err := Join(ctx, JoinOptions{Server: es.URL, Code: "A", SpoolDir: dir})
	if err != nil || !j.Resumed || j.Resp.SessionID != "s_A" {
		t.Fatalf("A again: %+v, %v", j, err)
	}
	if j.SetAside == nil || j.SetAside.Segments != 1 || readSeg(j.SetAside.Dir, "00000000000000000001.seg") != "B" {
		t.Fatalf("orphans %+v", j.SetAside)
	}
	if got := readSeg(dir, "00000000000000000001.seg"); got != "A" {
		t.Errorf("resumed spool holds %q", got)
	}
}
