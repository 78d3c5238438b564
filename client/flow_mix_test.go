package client_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/client/flowtest"
	"github.com/invigil/invigil/client/launch"
)

// keptEnv is flowtest's environment whose join reports a kept session.
type keptEnv struct {
	*flowtest.Env
	kept []exam.KeptSession
}

func (e keptEnv) Join(ctx context.Context, opts exam.JoinOptions) (*exam.Joined, error) {
	j, err := e.Env.Join(ctx, opts)
	if j != nil {
		j.Kept = e.kept
	}
	return j, err
}

// TestCheckTellsOfKeptSession: the check screen says that another exam's
// unfinished session is kept for later upload, and it does not hold the
// student back.
func TestCheckTellsOfKeptSession(t *testing.T) {
	env := keptEnv{Env: &flowtest.Env{}, kept: []exam.KeptSession{{SessionID: "s_A", Exam: "Demo exam", SameServer: true, Segments: 2}}}
	f := client.NewFlow(client.FlowOptions{Env: env, Config: launch.Config{SpoolDir: t.TempDir()},
		Link: "invigil://join?server=https://proctor.example.edu&code=PHYS1", Tick: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	s := waitState(t, f, "check ready", func(s client.State) bool { return s.Screen == client.ScreenCheck && s.Check.CanContinue })
	var found bool
	for _, it := range s.Check.Items {
		if strings.Contains(it.Summary, "An unfinished session of “Demo exam” is kept on this computer and will be uploaded when you open its link again") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no line about the kept session in %+v", s.Check.Items)
	}
	if s.Check.Resumed {
		t.Error("the check says the session is resumed")
	}
}
