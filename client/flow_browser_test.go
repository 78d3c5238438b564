package client_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/client/flowtest"
	"github.com/invigil/invigil/client/launch"
	"github.com/invigil/invigil/lockdown/policy"
)

// browserEnv is flowtest's Env whose exams can open the exam browser.
type browserEnv struct {
	*flowtest.Env
	opened atomic.Int32
	err    error
}

func (e *browserEnv) StartExam(ctx context.Context, j *exam.Joined, hooks client.ExamHooks) (client.ExamRun, error) {
	x, err := e.Env.StartExam(ctx, j, hooks)
	if err != nil {
		return nil, err
	}
	return &browserExam{Exam: x.(*flowtest.Exam), env: e}, nil
}

type browserExam struct {
	*flowtest.Exam
	env *browserEnv
}

func (x *browserExam) OpenBrowser(ctx context.Context) error {
	x.env.opened.Add(1)
	return x.env.err
}

func TestFlowOpensExamBrowser(t *testing.T) {
	withBrowser := policy.Default()
	withBrowser.ExamBrowser = policy.ExamBrowser{StartURL: "https://lms.example.edu/quiz/7"}
	tests := []struct {
		name       string
		policy     *policy.Policy
		err        error
		wantOpened int32
		problem    string
	}{
		{"policy without a URL", policy.Default(), nil, 0, ""},
		{"policy with a URL", withBrowser, nil, 1, ""},
		{"browser fails", withBrowser, errors.New("exam browser: no Chromium, Chrome or Edge is installed"), 1,
			"The exam page could not be opened (exam browser: no Chromium, Chrome or Edge is installed)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := &browserEnv{Env: &flowtest.Env{Policy: tt.policy}, err: tt.err}
			f := client.NewFlow(client.FlowOptions{Env: env, Config: launch.Config{SpoolDir: t.TempDir()},
				Link: "invigil://join?server=https://proctor.example.edu&code=PHYS1",
				Tick: 5 * time.Millisecond, RoomScan: 30 * time.Millisecond, RoomScanShots: 2})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { f.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			waitState(t, f, "check ready", func(s client.State) bool { return s.Screen == client.ScreenCheck && s.Check.CanContinue })
			checkToExam(t, f, env.Env)
			if tt.problem != "" {
				waitState(t, f, "the problem", func(s client.State) bool {
					return s.Exam != nil && strings.Contains(s.Exam.Problem, tt.problem)
				})
			}
			time.Sleep(50 * time.Millisecond) // ticks: a second open would show
			if got := env.opened.Load(); got != tt.wantOpened {
				t.Errorf("OpenBrowser called %d times, want %d", got, tt.wantOpened)
			}
			// The exam screen says where the exam is.
			waitState(t, f, "the exam screen", func(s client.State) bool {
				return s.Exam != nil && s.Exam.ExamBrowser == (tt.wantOpened > 0)
			})
		})
	}
}
