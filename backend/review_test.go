package backend

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/backend/accounts"
	"github.com/invigil/invigil/transport"
)

const dashPassword = "a long enough password"

// dashEnv is a backend with dashboard users: alice (administrator), paul
// (proctor) and rita (reviewer), the last two assigned to exam mine only.
type dashEnv struct {
	*env
	acc         *accounts.Store
	mine, other *Exam
}

func newDashEnv(t *testing.T) *dashEnv {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	d := &dashEnv{env: e, acc: e.b.Accounts()}
	var err error
	if d.mine, err = e.b.CreateExam(ctx, ExamSpec{Name: "Mine", Code: "MINE"}); err != nil {
		t.Fatal(err)
	}
	if d.other, err = e.b.CreateExam(ctx, ExamSpec{Name: "Other", Code: "OTHER"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name string
		role accounts.Role
	}{{"alice", accounts.Administrator}, {"paul", accounts.Proctor}, {"rita", accounts.Reviewer}} {
		usr, err := d.acc.AddUser(ctx, accounts.CLIActor, u.name, u.role, dashPassword)
		if err != nil {
			t.Fatal(err)
		}
		if u.role != accounts.Administrator {
			if err := d.acc.Assign(ctx, accounts.CLIActor, usr.ID, d.mine.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	return d
}

// dashClient is a logged-in browser: cookie jar and CSRF token.
type dashClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func (d *dashEnv) login(t *testing.T, name string) *dashClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	t.Cleanup(c.CloseIdleConnections)
	body, _ := json.Marshal(map[string]string{"name": name, "password": dashPassword})
	resp, err := c.Post(d.srv.URL+accounts.Prefix+"login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&me) != nil {
		t.Fatalf("login %s: %d", name, resp.StatusCode)
	}
	return &dashClient{t: t, base: d.srv.URL + accounts.Prefix, c: c, csrf: me.CSRF}
}

// do sends a request under /api/v1/dashboard/ (with the CSRF token unless
// noCSRF) and decodes a JSON answer into v when the status is 2xx.
func (c *dashClient) do(method, path string, body any, v any, noCSRF ...bool) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(noCSRF) == 0 || !noCSRF[0] {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode/100 == 2 {
		if w, ok := v.(*[]byte); ok {
			*w = b
		} else if err := json.Unmarshal(b, v); err != nil {
			c.t.Fatalf("%s %s: %v in %q", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// splitAUs splits an Annex B stream written with access unit delimiters
// (ffmpeg -bsf:v h264_metadata=aud=insert) into access units, without the
// delimiters, each NAL unit behind a 4-byte start code.
func splitAUs(t testing.TB, stream []byte) [][]byte {
	t.Helper()
	// NAL units: between start codes (00 00 01, or 00 00 00 01).
	var nals [][]byte
	start := -1
	for i := 0; i+3 <= len(stream); i++ {
		if stream[i] == 0 && stream[i+1] == 0 && stream[i+2] == 1 {
			if start >= 0 {
				nals = append(nals, bytes.TrimRight(stream[start:i], "\x00"))
			}
			start = i + 3
			i += 2
		}
	}
	if start >= 0 {
		nals = append(nals, stream[start:])
	}
	var out [][]byte
	var cur []byte
	for _, n := range nals {
		if len(n) == 0 {
			continue
		}
		if n[0]&0x1f == 9 { // access unit delimiter: a new access unit
			if cur != nil {
				out = append(out, cur)
			}
			cur = []byte{}
			continue
		}
		cur = append(append(cur, 0, 0, 0, 1), n...)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	if len(out) == 0 {
		t.Fatal("no access units")
	}
	return out
}

func isIDR(au []byte) bool {
	for i := 0; i+4 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 && au[i+3]&0x1f == 5 {
			return true
		}
	}
	return false
}

// recorded is a session streamed from the testdata clips.
type recorded struct {
	id     string
	start  time.Time // capture time of the first frames
	digest string    // the finish's digest: the receipt's
	violAt time.Time // the violation's capture time
	// Of an attempt left open: its client and clips, to stream more.
	c        *transport.Client
	cam, scr [][]byte
}

// more streams the clips' first n frames again, from capture time at.
func (r recorded) more(t *testing.T, at time.Time, n int) {
	t.Helper()
	for i := range n {
		ft := at.Add(time.Duration(i) * 100 * time.Millisecond)
		for _, tr := range []struct {
			n   uint8
			aus [][]byte
		}{{transport.TrackCamera, r.cam}, {transport.TrackScreen, r.scr}} {
			au := tr.aus[i%len(tr.aus)]
			var fl transport.Flags
			if isIDR(au) {
				fl = transport.FlagKeyframe
			}
			if _, err := r.c.Spool().Append(transport.Message{Kind: transport.KindMedia, Track: tr.n, Flags: fl, Time: ft, Payload: au}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// jpegStill is a minimal JPEG (SOI, APP0 JFIF, SOF0 8×8, EOI) the still
// check accepts as a header.
func jpegStill(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "review", "still.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// record streams 8 s of camera and screen at 10 fps through a real
// protocol client, with an ID photo, a violation at 3 s and a warning
// acknowledged at 5 s, then finishes (unless open).
func (d *dashEnv) record(t *testing.T, code string, open bool) recorded {
	t.Helper()
	ctx := context.Background()
	r, err := d.join(t, code)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newSessionClient(t, r, configKey(t, r), nil)
	read := func(n string) [][]byte {
		b, err := os.ReadFile(filepath.Join("testdata", "review", n+".h264"))
		if err != nil {
			t.Fatal(err)
		}
		return splitAUs(t, b)
	}
	cam, scr := read("camera"), read("screen")
	start := time.Now().Add(-10 * time.Second).Truncate(time.Millisecond)
	rec := recorded{id: r.SessionID, start: start, violAt: start.Add(3 * time.Second)}
	send := func(m transport.Message) {
		if _, err := c.Spool().Append(m); err != nil {
			t.Fatal(err)
		}
	}
	ev := func(at time.Time, body string) {
		send(transport.Message{Kind: transport.KindEvent, Track: transport.TrackEvents, Time: at, Payload: []byte(body)})
	}
	ev(start, `{"type":"session.started","resumed":false,"headless":true}`)
	send(transport.Message{Kind: transport.KindStill, Track: transport.TrackStills, Time: start, Payload: jpegStill(t)})
	ev(start, `{"type":"snapshot.taken","source":"camera","why":"id_photo","bytes":1}`)
	for i := range max(len(cam), len(scr)) {
		at := start.Add(time.Duration(i) * 100 * time.Millisecond)
		for _, tr := range []struct {
			n   uint8
			aus [][]byte
		}{{transport.TrackCamera, cam}, {transport.TrackScreen, scr}} {
			if i >= len(tr.aus) {
				continue
			}
			var fl transport.Flags
			if isIDR(tr.aus[i]) {
				fl = transport.FlagKeyframe
			}
			send(transport.Message{Kind: transport.KindMedia, Track: tr.n, Flags: fl, Time: at, Payload: tr.aus[i]})
		}
		if i%20 == 0 {
			send(transport.Message{Kind: transport.KindData, Track: transport.TrackHeartbeat, Time: at, Payload: []byte("hb")})
		}
		if i == 30 {
			ev(at, `{"type":"violation.open","id":"v1","code":"process.forbidden","severity":"critical","summary":"AnyDesk is running","start":"`+at.UTC().Format(time.RFC3339Nano)+`"}`)
		}
	}
	if open {
		rec.c, rec.cam, rec.scr = c, cam, scr
		waitUntil(t, func() bool {
			s, err := d.b.sessionByID(ctx, r.SessionID)
			return err == nil && len(s.Tracks) >= 4 && s.LastAck >= uint64(len(cam)+len(scr))
		})
		return rec
	}
	ev(start.Add(8*time.Second), `{"type":"session.finished","reason":"finished by student"}`)
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	res, err := c.Finish(fctx)
	if err != nil {
		t.Fatal(err)
	}
	rec.digest = res.ServerDigest
	if res.ClientDigest != res.ServerDigest {
		t.Fatalf("digests differ: %+v", res)
	}
	return rec
}

func TestReviewAPIAccess(t *testing.T) {
	d := newDashEnv(t)
	rec := d.record(t, "MINE", false)
	otherRec := d.record(t, "OTHER", false)
	paul, rita := d.login(t, "paul"), d.login(t, "rita")

	var list []AttemptSummary
	if code := rita.do("GET", "exams/"+d.mine.ID+"/attempts", nil, &list); code != 200 || len(list) != 1 || list[0].ID != rec.id {
		t.Fatalf("attempts: %d %+v", code, list)
	}
	if list[0].Violations != 1 || list[0].Critical != 1 {
		t.Errorf("violation counts %d/%d, want 1/1", list[0].Violations, list[0].Critical)
	}
	for _, q := range []struct {
		query string
		want  int
	}{{"?min_violations=1", 1}, {"?min_violations=2", 0}, {"?severity=critical", 1}, {"?outcome=suspicious", 0}, {"?outcome=none", 1}} {
		if code := rita.do("GET", "exams/"+d.mine.ID+"/attempts"+q.query, nil, &list); code != 200 || len(list) != q.want {
			t.Errorf("attempts%s: %d, %d attempts; want %d", q.query, code, len(list), q.want)
		}
	}
	if code := rita.do("GET", "exams/"+d.mine.ID+"/attempts?min_violations=x", nil, nil); code != 400 {
		t.Errorf("bad filter: %d, want 400", code)
	}

	// Every route of another exam's attempt: 403 for the assigned
	// proctor and reviewer.
	for _, c := range []*dashClient{paul, rita} {
		for _, r := range []struct{ method, path string }{
			{"GET", "exams/" + d.other.ID + "/attempts"},
			{"GET", "sessions/" + otherRec.id + "/review"},
			{"GET", "sessions/" + otherRec.id + "/tracks/camera"},
			{"GET", "sessions/" + otherRec.id + "/stills/0"},
			{"GET", "sessions/" + otherRec.id + "/evidence.zip"},
			{"PUT", "sessions/" + otherRec.id + "/outcome"},
			{"POST", "sessions/" + otherRec.id + "/notes"},
		} {
			var body any
			if r.method != "GET" {
				body = map[string]string{"outcome": "violation", "text": "x"}
			}
			if code := c.do(r.method, r.path, body, nil); code != 403 {
				t.Errorf("%s %s: %d, want 403", r.method, r.path, code)
			}
		}
	}
	if code := paul.do("PUT", "sessions/"+rec.id+"/hold", map[string]any{"hold": true}, nil); code != 403 {
		t.Errorf("a proctor setting a legal hold: %d, want 403 (reviewers and administrators)", code)
	}

	// State changes need the CSRF token.
	if code := rita.do("PUT", "sessions/"+rec.id+"/outcome", map[string]string{"outcome": "suspicious"}, nil, true); code != 403 {
		t.Errorf("outcome without CSRF: %d, want 403", code)
	}
	if code := rita.do("POST", "sessions/"+rec.id+"/notes", map[string]string{"text": "x"}, nil, true); code != 403 {
		t.Errorf("note without CSRF: %d, want 403", code)
	}
	if code := rita.do("PUT", "sessions/"+rec.id+"/outcome", map[string]string{"outcome": "maybe"}, nil); code != 400 {
		t.Errorf("unknown outcome: %d, want 400", code)
	}
	var rv AttemptReview
	if code := rita.do("PUT", "sessions/"+rec.id+"/outcome", map[string]string{"outcome": "suspicious"}, &rv); code != 200 || rv.Outcome != OutcomeSuspicious || rv.UpdatedBy != "rita" {
		t.Errorf("set outcome: %d %+v", code, rv)
	}
	if code := rita.do("POST", "sessions/"+rec.id+"/notes", map[string]string{"text": "Looks away at 0:03."}, nil); code != 201 {
		t.Errorf("add note: %d", code)
	}
	if code := rita.do("PUT", "sessions/"+rec.id+"/hold", map[string]any{"hold": true, "hold_reason": "appeal"}, &rv); code != 200 || !rv.Hold {
		t.Errorf("hold: %d %+v", code, rv)
	}

	var det AttemptDetail
	if code := paul.do("GET", "sessions/"+rec.id+"/review", nil, &det); code != 200 {
		t.Fatalf("review: %d", code)
	}
	if len(det.Videos) != 2 || det.Videos[0].Codec == "" || det.Videos[0].Frames != 80 {
		t.Errorf("videos %+v", det.Videos)
	}
	if len(det.Stills) != 1 || det.Stills[0].Why != "id_photo" {
		t.Errorf("stills %+v", det.Stills)
	}
	if det.Review.Outcome != OutcomeSuspicious || len(det.Notes) != 1 || det.Notes[0].Author != "rita" {
		t.Errorf("review %+v notes %+v", det.Review, det.Notes)
	}
	for _, tr := range det.Videos {
		var b []byte
		if code := paul.do("GET", strings.TrimPrefix(tr.URL, accounts.Prefix), nil, &b); code != 200 || !bytes.Contains(b[:64], []byte("ftyp")) {
			t.Errorf("%s: %d, %d bytes", tr.URL, code, len(b))
		}
	}
	var jpg []byte
	if code := paul.do("GET", strings.TrimPrefix(det.Stills[0].URL, accounts.Prefix), nil, &jpg); code != 200 || !bytes.Equal(jpg, jpegStill(t)) {
		t.Errorf("still: %d", code)
	}

	// The audit log has each action, with who did it.
	alice := d.login(t, "alice")
	for _, action := range []string{"session.review", "attempt.outcome", "attempt.note", "attempt.hold", "exam.denied"} {
		var audit struct{ Entries []accounts.AuditEntry }
		if code := alice.do("GET", "audit?action="+action, nil, &audit); code != 200 || len(audit.Entries) == 0 {
			t.Errorf("audit %s: %d %+v", action, code, audit.Entries)
		}
	}
}

// The evidence bundle's files match their manifest hashes, and its digest
// is the one the client's finish returned (the receipt's).
func TestEvidenceBundle(t *testing.T) {
	d := newDashEnv(t)
	rec := d.record(t, "MINE", false)
	rita := d.login(t, "rita")
	var zb []byte
	if code := rita.do("GET", "sessions/"+rec.id+"/evidence.zip", nil, &zb); code != 200 {
		t.Fatalf("evidence: %d", code)
	}
	zr, err := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	var m EvidenceManifest
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.Digest == "" || m.Digest != rec.digest {
		t.Errorf("manifest digest %q, receipt digest %q", m.Digest, rec.digest)
	}
	if m.Format != EvidenceFormat || m.Session != rec.id || m.CreatedBy != "rita" {
		t.Errorf("manifest %+v", m)
	}
	want := map[string]bool{"camera.mp4": true, "screen.mp4": true, "events.json": true, "commands.json": true, "notes.json": true, "session.json": true, "stills/000-id_photo.jpg": true}
	for _, f := range m.Files {
		sum := sha256.Sum256(files[f.Name])
		if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(files[f.Name])) != f.Bytes {
			t.Errorf("%s: hash or size differs from the manifest", f.Name)
		}
		delete(want, f.Name)
	}
	if len(want) != 0 {
		t.Errorf("manifest lacks %v", want)
	}
	if !strings.Contains(string(files["SHA256SUMS"]), "  camera.mp4\n") {
		t.Errorf("SHA256SUMS: %q", files["SHA256SUMS"])
	}
	var events []Event
	if err := json.Unmarshal(files["events.json"], &events); err != nil || len(events) != 4 {
		t.Errorf("events.json: %d events, %v", len(events), err)
	}
	var audit []accounts.AuditEntry
	audit, err = d.acc.ListAudit(context.Background(), accounts.AuditQuery{Action: "evidence.download"})
	if err != nil || len(audit) != 1 || audit[0].Target != rec.id {
		t.Errorf("audit of the download: %+v %v", audit, err)
	}
}

func TestRetention(t *testing.T) {
	d := newDashEnv(t)
	ctx := context.Background()
	expired := d.record(t, "MINE", false)
	held := d.record(t, "MINE", false)
	crashed := d.record(t, "MINE", false)
	rita := d.login(t, "rita")
	if code := rita.do("PUT", "sessions/"+held.id+"/hold", map[string]any{"hold": true, "hold_reason": "appeal"}, nil); code != 200 {
		t.Fatalf("hold: %d", code)
	}
	dir := func(id string) string { return filepath.Join(d.b.cfg.DataDir, "sessions", id) }
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }

	// Within the default 30 days nothing goes.
	d.advance(29 * 24 * time.Hour)
	if rep, err := d.b.RunRetention(ctx); err != nil || len(rep.Purged) != 0 {
		t.Fatalf("day 29: %+v %v", rep, err)
	}
	// A crash in the middle of an earlier purge: recorded, files half gone.
	if _, err := d.b.db.Exec(`INSERT INTO purges(session_id, started_at, reason) VALUES (?, 0, 'test')`, crashed.id); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir(crashed.id), "camera.mp4")); err != nil {
		t.Fatal(err)
	}

	d.advance(2 * 24 * time.Hour)
	rep, err := d.b.RunRetention(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Purged) != 2 || len(rep.Held) != 1 || rep.Held[0] != held.id {
		t.Fatalf("day 31: %+v", rep)
	}
	rita = d.login(t, "rita") // a month later: a new login
	for _, id := range []string{expired.id, crashed.id} {
		if exists(dir(id)) {
			t.Errorf("%s: folder left", id)
		}
		var n int
		d.b.db.QueryRow(`SELECT (SELECT COUNT(*) FROM events WHERE session_id = ?) + (SELECT COUNT(*) FROM tracks WHERE session_id = ?)`, id, id).Scan(&n)
		if n != 0 {
			t.Errorf("%s: %d rows left", id, n)
		}
	}
	if !exists(filepath.Join(dir(held.id), "camera.mp4")) {
		t.Error("the attempt on hold lost its recording")
	}
	var list []AttemptSummary
	if code := rita.do("GET", "exams/"+d.mine.ID+"/attempts", nil, &list); code != 200 || len(list) != 3 {
		t.Fatalf("attempts after retention: %d %d", code, len(list))
	}
	for _, a := range list {
		if a.Purged != (a.ID != held.id) {
			t.Errorf("%s purged=%v", a.ID, a.Purged)
		}
		if a.ID == expired.id && a.Digest != expired.digest {
			t.Errorf("the purged attempt's digest is gone: receipts can no longer be matched")
		}
	}
	audit, err := d.acc.ListAudit(ctx, accounts.AuditQuery{Action: "retention.purge"})
	if err != nil || len(audit) != 2 || audit[0].Actor != RetentionActor.ID {
		t.Errorf("audit: %+v %v", audit, err)
	}
	// A second run has nothing to do; releasing the hold lets it go.
	if rep, err := d.b.RunRetention(ctx); err != nil || len(rep.Purged) != 0 {
		t.Errorf("second run: %+v %v", rep, err)
	}
	if code := rita.do("PUT", "sessions/"+held.id+"/hold", map[string]any{"hold": false}, nil); code != 200 {
		t.Fatalf("release hold: %d", code)
	}
	if rep, err := d.b.RunRetention(ctx); err != nil || len(rep.Purged) != 1 || rep.Purged[0] != held.id {
		t.Errorf("after the hold: %+v %v", rep, err)
	}
}

// An attempt that never finished is ended before its files go, so its
// client cannot upload into a purged session.
func TestRetentionEndsAbandonedAttempt(t *testing.T) {
	d := newDashEnv(t)
	ctx := context.Background()
	rec := d.record(t, "MINE", true)
	d.advance(31 * 24 * time.Hour)
	if rep, err := d.b.RunRetention(ctx); err != nil || len(rep.Purged) != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	var state string
	d.b.db.QueryRow(`SELECT state FROM sessions WHERE id = ?`, rec.id).Scan(&state)
	if state != stateEnded {
		t.Errorf("state %q, want ended", state)
	}
}

func auditQuery(action string) accounts.AuditQuery { return accounts.AuditQuery{Action: action} }
