package ui_test

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/client/flowtest"
	"github.com/invigil/invigil/client/ui"
)

// refusedErr is a connection refused, wrapped as exam.Join wraps it.
type refusedErr struct{}

func (refusedErr) Error() string { return "backend unreachable: connection refused" }
func (refusedErr) Unwrap() []error {
	return []error{exam.ErrUnreachable, &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}}
}

// TestErrorEditServer: a server that refuses the connection is named as
// such (not "check Wi-Fi"), and "Change address or code" leads to the join
// screen with both filled in; typing the address without a scheme joins.
func TestErrorEditServer(t *testing.T) {
	h := newHarness(t, &flowtest.Env{JoinErrs: []error{refusedErr{}}},
		client.FlowOptions{Link: link, RetryMin: time.Hour, RetryMax: time.Hour})
	s := h.wait(client.ScreenError, nil)
	if s.Error.Title != "The exam server is not answering" || strings.Contains(s.Error.Message, "Wi-Fi") {
		t.Fatalf("error %q: %q", s.Error.Title, s.Error.Message)
	}
	h.tap(ui.ActionLabel(client.ErrorUnreachable, client.ActionEditServer))
	s = h.wait(client.ScreenJoin, nil)
	if got := h.app.Entry(ui.PlaceholderServer).Text; got != "https://proctor.example.edu" {
		t.Fatalf("server entry %q", got)
	}
	if got := h.app.Entry(ui.PlaceholderCode).Text; got != "PHYS1" {
		t.Fatalf("code entry %q", got)
	}
	h.typeInto(ui.PlaceholderServer, "exam.example.org")
	h.tap("Join exam")
	if s = h.wait(client.ScreenCheck, nil); s.Server != "https://exam.example.org" {
		t.Fatalf("joined %q", s.Server)
	}
}
