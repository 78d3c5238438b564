package backend

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/invigil/invigil/assets"
	"github.com/invigil/invigil/transport"
)

// TestJoinRefusesOutdatedClient: an exam whose policy sets
// min_client_version refuses an older client's join with 426
// client_outdated, telling it what to install and where; a new enough
// client joins, and the session stores what it sent.
func TestJoinRefusesOutdatedClient(t *testing.T) {
	e := newEnvWith(t, func(c *Config) { c.DownloadURL = "https://exam.example/download" })
	ctx := context.Background()
	var doc map[string]any
	if err := json.Unmarshal(assets.DefaultPolicy, &doc); err != nil {
		t.Fatal(err)
	}
	doc["min_client_version"] = "0.2"
	pol, _ := json.Marshal(doc)
	if _, err := e.b.CreateExam(ctx, ExamSpec{Name: "New clients", Code: "NEWONLY", Policy: pol}); err != nil {
		t.Fatal(err)
	}
	join := func(version string) (*transport.JoinResponse, error) {
		return transport.Join(ctx, nil, e.srv.URL, transport.JoinRequest{Code: "newonly",
			Client: transport.ClientInfo{App: "invigil", Version: version, OS: "linux", Arch: "amd64"}})
	}
	for _, old := range []string{"0.1.0", "0.1.9", "", "dev"} {
		_, err := join(old)
		var re *transport.RemoteError
		if !errors.As(err, &re) || re.Code != transport.CodeClientOutdated {
			t.Fatalf("client %q: err = %v, want client_outdated", old, err)
		}
		if want := "Update Invigil to 0.2 or later: https://exam.example/download"; re.Message != want {
			t.Errorf("client %q: message %q, want %q", old, re.Message, want)
		}
	}
	// The status is 426.
	resp, err := http.Post(e.srv.URL+"/api/v1/join", "application/json",
		strings.NewReader(`{"code":"NEWONLY","client":{"app":"invigil","version":"0.1.0","os":"linux","arch":"amd64"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("status %d, want 426", resp.StatusCode)
	}
	for _, ok := range []string{"0.2.0", "0.2", "0.10.1", "1.0.0-rc1"} {
		r, err := join(ok)
		if err != nil {
			t.Fatalf("client %q refused: %v", ok, err)
		}
		var stored string
		if err := e.b.db.QueryRow(`SELECT client FROM sessions WHERE id = ?`, r.SessionID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		var ci transport.ClientInfo
		if err := json.Unmarshal([]byte(stored), &ci); err != nil || ci.Version != ok || ci.OS != "linux" {
			t.Errorf("stored client %s (%v), want version %q", stored, err, ok)
		}
	}
	// An exam without a minimum admits any client.
	if _, err := e.b.EnsureDemoExam(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.join(t, "DEMO"); err != nil {
		t.Errorf("demo exam refused a client without a version: %v", err)
	}
}

// TestJoinOutdatedWithoutDownloadURL: without --download-url the refusal
// still says what to do.
func TestJoinOutdatedWithoutDownloadURL(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var doc map[string]any
	if err := json.Unmarshal(assets.DefaultPolicy, &doc); err != nil {
		t.Fatal(err)
	}
	doc["min_client_version"] = "1.4.2"
	pol, _ := json.Marshal(doc)
	if _, err := e.b.CreateExam(ctx, ExamSpec{Name: "x", Code: "X", Policy: pol}); err != nil {
		t.Fatal(err)
	}
	_, err := transport.Join(ctx, nil, e.srv.URL, transport.JoinRequest{Code: "X", Client: transport.ClientInfo{App: "invigil", Version: "1.4.1"}})
	var re *transport.RemoteError
	if !errors.As(err, &re) || re.Code != transport.CodeClientOutdated || !strings.HasPrefix(re.Message, "Update Invigil to 1.4.2 or later") {
		t.Fatalf("err = %v, want client_outdated naming 1.4.2", err)
	}
}
