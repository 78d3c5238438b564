package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/client/flowtest"
	"github.com/invigil/invigil/client/launch"
	"github.com/invigil/invigil/transport"
)

// waitState polls the flow until ok holds for its current state.
func waitState(t *testing.T, f *client.Flow, what string, ok func(client.State) bool) client.State {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if s := f.Current(); ok(s) {
			return s
		}
	}
	t.Fatalf("no %s; the flow shows %+v", what, f.Current())
	return client.State{}
}

func on(screen client.Screen) func(client.State) bool {
	return func(s client.State) bool { return s.Screen == screen }
}

// checkToExam goes from a passed check through consent, the ID photo and
// the room scan to the exam, and returns the exam.
func checkToExam(t *testing.T, f *client.Flow, env *flowtest.Env) *flowtest.Exam {
	t.Helper()
	f.Continue()
	waitState(t, f, "consent", on(client.ScreenConsent))
	f.Agree()
	waitState(t, f, "ID photo", on(client.ScreenIDPhoto))
	f.TakePhoto()
	waitState(t, f, "photo taken", func(s client.State) bool { return s.Photo != nil && s.Photo.Step == client.PhotoTaken })
	f.UsePhoto()
	waitState(t, f, "room scan", on(client.ScreenRoomScan))
	f.StartRoomScan()
	waitState(t, f, "exam", on(client.ScreenExam))
	return env.Exam()
}

// TestFlowWithoutUI drives the flow through its actions alone, from a link
// to the receipt, and checks that it stops every goroutine it started.
func TestFlowWithoutUI(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	env := &flowtest.Env{JoinErrs: []error{fmt.Errorf("%w: refused", exam.ErrUnreachable)}}
	f := client.NewFlow(client.FlowOptions{Env: env, Config: launch.Config{SpoolDir: t.TempDir()},
		Link: "invigil://join?server=https://proctor.example.edu&code=PHYS1",
		Tick: 5 * time.Millisecond, RetryMin: 10 * time.Millisecond, RoomScan: 30 * time.Millisecond, RoomScanShots: 2})
	done := make(chan struct{})
	go func() { f.Run(context.Background()); close(done) }()

	s := waitState(t, f, "unreachable error", on(client.ScreenError))
	if s.Error.Kind != client.ErrorUnreachable || s.Error.RetryAt.IsZero() {
		t.Fatalf("error %+v", s.Error)
	}
	waitState(t, f, "check ready", func(s client.State) bool { return s.Screen == client.ScreenCheck && s.Check.CanContinue })
	f.Agree() // ignored: not on the consent screen
	x := checkToExam(t, f, env)
	x.Command(transport.Command{ID: "c1", Command: transport.CommandWarn, Text: "eyes on the screen"})
	waitState(t, f, "warning", func(s client.State) bool { return s.Exam != nil && s.Exam.Warning != nil })
	f.ConfirmFinish() // ignored: not asked to confirm yet
	f.AcknowledgeWarning()
	waitState(t, f, "no warning", func(s client.State) bool { return s.Exam != nil && s.Exam.Warning == nil })
	if !x.HasEvent("warning.acknowledged") {
		t.Fatal("no warning.acknowledged event")
	}
	f.RequestFinish()
	waitState(t, f, "confirmation", func(s client.State) bool { return s.Exam != nil && s.Exam.ConfirmFinish })
	f.ConfirmFinish()
	s = waitState(t, f, "receipt", on(client.ScreenReceipt))
	// The receipt is the one the exam's Finish produced, after the flow
	// sent its last event: it counts every event the flow sent.
	evs := x.Events()
	if !x.Finished() || s.Recording {
		t.Fatalf("finished %v recording %v", x.Finished(), s.Recording)
	}
	if got, want := s.Receipt.Receipt.Messages, uint64(len(evs)); got != want {
		t.Fatalf("receipt counts %d messages, the flow sent %d", got, want)
	}
	if last := evs[len(evs)-1]; last.Type != "session.finished" || last.Fields["reason"] == nil {
		t.Fatalf("last event %+v, want session.finished with a reason", last)
	}
	f.Quit()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, ok := <-f.States(); ok {
		// drain the last state; the channel must then be closed
		if _, ok := <-f.States(); ok {
			t.Fatal("States not closed after Run")
		}
	}
}

// TestFlowQuitWhileRecordingStarts: a recording that starts after the
// student closed the app is stopped, whether its result reached the flow's
// queue before Run stopped taking from it or not.
func TestFlowQuitWhileRecordingStarts(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for i := range 20 {
		gate := make(chan struct{})
		env := &flowtest.Env{StartGate: gate}
		f := client.NewFlow(client.FlowOptions{Env: env, Config: launch.Config{SpoolDir: t.TempDir(), Server: "https://e.example"},
			Code: "PHYS1", Tick: 5 * time.Millisecond})
		done := make(chan struct{})
		go func() { f.Run(context.Background()); close(done) }()
		waitState(t, f, "check ready", func(s client.State) bool { return s.Screen == client.ScreenCheck && s.Check.CanContinue })
		f.Continue()
		waitState(t, f, "consent", on(client.ScreenConsent))
		f.Agree()
		waitState(t, f, "starting", on(client.ScreenBusy))
		f.Quit()
		time.Sleep(time.Duration(i%4) * time.Millisecond) // before and after Run's loop ends
		close(gate)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("Run did not return")
		}
		if x := env.Exam(); x == nil || !x.Aborted() {
			t.Fatalf("run %d: the exam that started after Quit was not stopped", i)
		}
	}
}

// TestFlowSecondExamStartsClean: after the backend stopped a session with
// a warning still open, a link handed over on the error screen starts a
// second exam that carries nothing of the first.
func TestFlowSecondExamStartsClean(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	env := &flowtest.Env{}
	f := client.NewFlow(client.FlowOptions{Env: env, Config: launch.Config{SpoolDir: t.TempDir(), Server: "https://e.example"},
		Code: "PHYS1", Tick: 5 * time.Millisecond, RoomScan: 30 * time.Millisecond, RoomScanShots: 2})
	done := make(chan struct{})
	go func() { f.Run(context.Background()); close(done) }()
	toExam := func() *flowtest.Exam {
		waitState(t, f, "check ready", func(s client.State) bool { return s.Screen == client.ScreenCheck && s.Check.CanContinue })
		return checkToExam(t, f, env)
	}
	first := toExam()
	first.Command(transport.Command{ID: "c1", Command: transport.CommandWarn, Text: "eyes on the screen"})
	waitState(t, f, "warning", func(s client.State) bool { return s.Exam != nil && s.Exam.Warning != nil })
	first.Stop(fmt.Errorf("session closed by the backend"))
	waitState(t, f, "stopped", func(s client.State) bool {
		return s.Screen == client.ScreenError && s.Error.Kind == client.ErrorStopped
	})
	f.OpenLink("invigil://join?server=https://e.example&code=PHYS1")
	if second := toExam(); second == first {
		t.Fatal("no second exam")
	}
	s := f.Current()
	if s.Exam.Warning != nil || !s.Recording {
		t.Fatalf("second exam: warning %+v, recording %v", s.Exam.Warning, s.Recording)
	}
	f.Quit()
	<-done
}

// TestFlowCancelStopsExam: cancelling Run's context mid-exam stops the
// exam without finishing it (the spool keeps the rest).
func TestFlowCancelStopsExam(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	env := &flowtest.Env{}
	f := client.NewFlow(client.FlowOptions{Env: env, Config: launch.Config{SpoolDir: t.TempDir(), Server: "https://e.example"},
		Code: "PHYS1", Tick: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	waitState(t, f, "check ready", func(s client.State) bool { return s.Screen == client.ScreenCheck && s.Check.CanContinue })
	f.Continue()
	waitState(t, f, "consent", on(client.ScreenConsent))
	f.Agree()
	waitState(t, f, "ID photo", on(client.ScreenIDPhoto))
	cancel()
	<-done
	if x := env.Exam(); !x.Aborted() || x.Finished() {
		t.Fatalf("aborted %v finished %v", x.Aborted(), x.Finished())
	}
	if o := f.Outcome(); o.Screen != client.ScreenIDPhoto {
		t.Fatalf("outcome %+v", o)
	}
}
