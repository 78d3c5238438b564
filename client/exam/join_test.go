package exam

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/invigil/invigil/client/credstore"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

// signedDefaultPolicy returns the default policy in a signed envelope (as
// a join answer carries it) and the signing key as a client pins it.
func signedDefaultPolicy(t *testing.T) (env []byte, serverKey string) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	pj, _ := json.Marshal(policy.Default())
	signed, err := policy.Sign(priv, pj)
	if err != nil {
		t.Fatal(err)
	}
	env, _ = json.Marshal(signed)
	return env, policy.FormatPublicKey(priv.Public().(ed25519.PublicKey))
}

// joinServer answers join and resume like a backend with one session.
func joinServer(t *testing.T, token string) *httptest.Server {
	t.Helper()
	env, serverKey := signedDefaultPolicy(t)
	resp := transport.JoinResponse{SessionID: "s_join_test", Token: token, Policy: env,
		ServerKey: serverKey, WSURL: "/api/v1/ws", SpoolKey: bytes.Repeat([]byte{1}, 32)}
	resp.Exam.Name = "Test"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/resume" && r.Header.Get("Authorization") != "Bearer "+token {
			transport.WriteAPIError(w, http.StatusUnauthorized, transport.CodeUnauthorized, "bad token")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSessionFileHoldsNoToken: the bearer token that fetches the spool key
// is not written next to the spool when there is a credential store; a
// restart still resumes with it, and finishing removes it.
func TestSessionFileHoldsNoToken(t *testing.T) {
	const token = "tok_SECRET_0123456789"
	srv := joinServer(t, token)
	dir := filepath.Join(t.TempDir(), "spool")
	opts := JoinOptions{Server: srv.URL, Code: "X", SpoolDir: dir}
	j, err := Join(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if j.Resumed {
		t.Fatal("first join resumed")
	}
	b, err := os.ReadFile(filepath.Join(dir, sessionFileName))
	if err != nil {
		t.Fatal(err)
	}
	var sf sessionFile
	json.Unmarshal(b, &sf)
	if _, err := credstore.Put(t.TempDir(), "probe", []byte("x")); errors.Is(err, credstore.ErrUnsupported) {
		if credstore.Implemented && os.Getenv("INVIGIL_TEST_NO_CREDSTORE") != "1" {
			t.Fatalf("this OS has a credential store, but it refused: %v (INVIGIL_TEST_NO_CREDSTORE=1 where that is expected)", err)
		}
		t.Skipf("no credential store on %s (%v); the fallback is TestTokenFallsBackToFile", runtime.GOOS, err)
	}
	if strings.Contains(string(b), token) || sf.TokenStore == "" {
		t.Fatalf("session.json holds the token:\n%s", b)
	}
	j, err = Join(context.Background(), opts)
	if err != nil || !j.Resumed {
		t.Fatalf("restart: resumed %v, %v", j != nil && j.Resumed, err)
	}
	if err := ForgetSession(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := credstore.Get(dir, sf.TokenStore, tokenName(sf.SessionID)); !errors.Is(err, credstore.ErrNotFound) {
		t.Errorf("token still in the %s store after finish: %v", sf.TokenStore, err)
	}
}

// TestTokenFallsBackToFile: without a credential store the token goes in
// the session file, and resuming works.
func TestTokenFallsBackToFile(t *testing.T) {
	put := putCredential
	putCredential = func(string, string, []byte) (string, error) { return "", credstore.ErrUnsupported }
	t.Cleanup(func() { putCredential = put })
	const token = "tok_fallback"
	srv := joinServer(t, token)
	dir := filepath.Join(t.TempDir(), "spool")
	opts := JoinOptions{Server: srv.URL, Code: "X", SpoolDir: dir}
	if _, err := Join(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, sessionFileName))
	if !strings.Contains(string(b), token) {
		t.Fatalf("fallback session file without the token:\n%s", b)
	}
	if st, _ := os.Stat(filepath.Join(dir, sessionFileName)); st.Mode().Perm() != 0o600 {
		t.Errorf("session file mode %v", st.Mode().Perm())
	}
	if j, err := Join(context.Background(), opts); err != nil || !j.Resumed {
		t.Fatalf("restart did not resume: %v", err)
	}
}

// TestLostTokenSetsSpoolAside: a token the store lost (a reboot, for the
// Linux keyring) cannot resume; the spool is set aside and reported.
func TestLostTokenSetsSpoolAside(t *testing.T) {
	get := getCredential
	getCredential = func(string, string, string) ([]byte, error) { return nil, credstore.ErrNotFound }
	t.Cleanup(func() { getCredential = get })
	dir := filepath.Join(t.TempDir(), "spool")
	os.MkdirAll(dir, 0o700)
	srv := joinServer(t, "tok_new")
	sf := sessionFile{Server: srv.URL, Code: "X", SessionID: "s_old", TokenStore: "keyring"}
	if err := writeSessionFile(dir, sf); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "00000000000000000001.seg"), []byte("x"), 0o600)
	j, err := Join(context.Background(), JoinOptions{Server: srv.URL, Code: "X", SpoolDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer ForgetSession(dir)
	if j.Resumed || j.SetAside == nil || j.SetAside.Segments != 1 {
		t.Fatalf("joined %+v, set aside %+v", j.Resumed, j.SetAside)
	}
}

// TestSegmentsWithoutSessionFileAreSetAside: spool files whose session file
// was deleted are not uploaded into a new session.
func TestSegmentsWithoutSessionFileAreSetAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "00000000000000000041.seg"), []byte("x"), 0o600)
	srv := joinServer(t, "tok")
	j, err := Join(context.Background(), JoinOptions{Server: srv.URL, Code: "X", SpoolDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if j.SetAside == nil || j.SetAside.Segments != 1 {
		t.Fatalf("set aside %+v", j.SetAside)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(m) != 0 {
		t.Errorf("segments left in the spool: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join(j.SetAside.Dir, "*.seg")); len(m) != 1 {
		t.Errorf("segments not kept aside: %v", m)
	}
	ForgetSession(dir)
}
