package exam

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

// TestBeginFailsCleanly: Begin says which step failed, in the words the
// desktop flow and the headless run show, and leaves nothing running: a
// failure to start lockdown after consent was recorded closes the session
// (its spool opens again, holding the consent).
func TestBeginFailsCleanly(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	key := bytes.Repeat([]byte{1}, 32)
	j := &Joined{Resp: &transport.JoinResponse{SessionID: "s_begin", Token: "tok", WSURL: "ws://127.0.0.1:1/api/v1/ws", SpoolKey: key},
		Policy: policy.Default(), ConfigKey: strings.Repeat("0", 64), SpoolDir: filepath.Join(dir, "spool")}
	none := Sources{Camera: "none", Screen: "none"}

	badKey := *j
	resp := *j.Resp
	resp.SpoolKey = []byte{1}
	badKey.Resp = &resp
	_, err := Begin(ctx, &badKey, BeginOptions{Sources: none, Consent: "test"})
	var se *StartError
	if want := "open the spool in " + j.SpoolDir + ": open spool: key has 1 bytes, want 32"; !errors.As(err, &se) || se.Step != StepSpool || err.Error() != want {
		t.Errorf("bad spool key: err = %v, want a StartError at %s saying %q", err, StepSpool, want)
	}

	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Begin(ctx, j, BeginOptions{Sources: none, Consent: "test", JournalPath: filepath.Join(notDir, "journal")})
	if !errors.As(err, &se) || se.Step != StepLockdown || !strings.HasPrefix(err.Error(), "start lockdown: lockdown journal: ") {
		t.Errorf("journal in a file: err = %v, want a StartError at %s saying \"start lockdown: lockdown journal: ...\"", err, StepLockdown)
	}
	sp, err := transport.OpenSpool(j.SpoolDir, key, transport.SpoolOptions{})
	if err != nil {
		t.Fatalf("the spool was left open: %v", err)
	}
	defer sp.Close()
	if got := sp.Status().NextSeq; got != 2 {
		t.Errorf("the spool's next sequence number is %d, want 2 (consent.accepted only)", got)
	}
}
