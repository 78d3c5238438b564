package client

import (
	"errors"
	"fmt"
	"github.com/invigil/invigil/client/internal/msg"
	"net"
	"net/http"
	"strings"

	"github.com/invigil/invigil/capture"
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/transport"
)

// The error screens' texts: what happened and what to do, in plain words.
// Detail carries the technical cause in one line for IT staff.

// unreachableError says why the backend could not be reached (netCause)
// and what the student can do about it. editable offers to change the
// server address or code, unless the managed configuration fixes the
// server.
func unreachableError(server string, err error, spoolSafe, editable bool) *ErrorState {
	host := hostOf(server)
	const keeps = " Invigil keeps trying by itself."
	cause, status := netCause(err)
	e := &ErrorState{Kind: ErrorUnreachable, Cause: cause, Detail: oneLine(err), SpoolSafe: spoolSafe,
		Actions: []Action{ActionRetry, ActionQuit}}
	switch cause {
	case CauseRefused:
		e.Title = "The exam server is not answering"
		e.Message = "This computer is online, but " + host + " refused the connection: no exam server runs at this address right now. " +
			"Check the address; if it is right, the server may be down or restarting." + keeps
	case CauseNotFound:
		e.Title = "No server has this name"
		e.Message = "The name " + hostName(host) + " was not found. Check the server address for typing mistakes, " +
			"or ask your teacher for the exact address."
	case CauseDNS:
		e.Title = "Can't look up the exam server"
		e.Message = "This computer could not look up " + hostName(host) + ": no name server answered. " +
			"Check that this computer is online (Wi-Fi or network cable)." + keeps
	case CauseTLS:
		e.Title = "The exam server's certificate is not valid"
		e.Message = host + " could not prove that it is the real exam server, so Invigil did not send anything to it. " +
			"This happens on networks that intercept connections (public or hotel Wi-Fi that wants you to sign in first), " +
			"or when this computer's date and time are wrong. Sign in to the network or try another one, and check the clock."
	case CauseNotTLS:
		e.Title = "The server does not answer securely"
		e.Message = host + " answered, but not over a secure (https) connection. If your teacher gave an address " +
			"starting with http://, type it exactly like that."
	case CauseOffline:
		e.Title = "This computer is offline"
		e.Message = "This computer has no connection to the network. Check Wi-Fi or the network cable." + keeps
	case CauseTimeout:
		e.Title = "The exam server does not answer"
		e.Message = host + " did not answer in time. Check that this computer is online (Wi-Fi or network cable); " +
			"the server may also be very busy." + keeps
	case CauseHTTP:
		e.Title = "The exam server answered with an error"
		e.Message = fmt.Sprintf("%s answered with error %d (%s). ", host, status, http.StatusText(status))
		if status == http.StatusNotFound {
			e.Message += "There may be no exam server at this address: check it."
		} else if status >= 500 {
			e.Message += "The server has a problem right now." + keeps
		} else {
			e.Message += "Check the address; if it is right, contact your teacher."
		}
	case CauseServer:
		e.Title = "The exam server has a problem"
		e.Message = host + " answered, but could not let you in right now." + keeps
	default:
		e.Title = "Can't reach the exam server"
		e.Message = "Invigil cannot connect to " + host + ". Check that this computer is online (Wi-Fi or network cable)." + keeps
	}
	if editable {
		e.Actions = []Action{ActionRetry, ActionEditServer, ActionQuit}
	}
	return e
}

// hostName is a host[:port] without its port.
func hostName(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

func badPolicyError(err error) *ErrorState {
	return &ErrorState{Kind: ErrorBadPolicy, Title: "This exam's settings could not be verified",
		Message: "The exam server sent settings that are not signed with the key this computer trusts, so Invigil will not start " +
			"the exam. This can happen on an untrusted network (public or hotel Wi-Fi). Try another network; if it keeps " +
			"happening, contact your school's exam support and show them this screen.",
		Detail: oneLine(err), Actions: []Action{ActionRetry, ActionQuit}}
}

func notOpenError(re *transport.RemoteError) *ErrorState {
	e := &ErrorState{Kind: ErrorNotOpen, Title: "The exam hasn't opened yet", OpensAt: re.OpensAt,
		Message: "You are early. Keep this window open: Invigil joins the exam by itself as soon as it opens.",
		Detail:  oneLine(re), Actions: []Action{ActionRetry, ActionQuit}}
	if re.OpensAt.IsZero() {
		e.Message = "The exam is not open yet. Try again at the time your teacher gave you."
	}
	return e
}

func refusedError(err error) *ErrorState {
	e := &ErrorState{Kind: ErrorRefused, Detail: oneLine(err), Actions: []Action{ActionEnterCode, ActionQuit}}
	var re *transport.RemoteError
	errors.As(err, &re)
	code := ""
	if re != nil {
		code = re.Code
	}
	switch code {
	case transport.CodeExamClosed:
		e.Title = "This exam is closed"
		e.Message = "The time to take this exam is over. If you think this is a mistake, contact your teacher."
	case transport.CodeClientOutdated:
		// Another code cannot help: only an update can.
		e.Title = "Invigil needs an update"
		e.Message = "This exam needs a newer Invigil than this one (" + exam.Version + "). " + re.Message + "."
		e.Actions = []Action{ActionQuit}
	case transport.CodeSessionFinished:
		e.Title = "This exam session has already ended"
		e.Message = "Your earlier session of this exam was finished or ended by the proctor. If you need to sit it again, contact your teacher."
	default:
		e.Title = "The exam server did not let you join"
		e.Message = "Check the join code and try again. If it keeps happening, contact your teacher."
		if re != nil && re.Message != "" {
			e.Message = "The server said: " + re.Message + ". Check the join code and try again."
		}
	}
	return e
}

func badLinkError(err error) *ErrorState {
	return &ErrorState{Kind: ErrorBadLink, Title: "This exam link doesn't work",
		Message: "The link that opened Invigil is damaged, incomplete or not meant for this computer. " +
			"Ask your teacher for a new link, or type your join code instead.",
		Detail: oneLine(err), Actions: []Action{ActionEnterCode, ActionQuit}}
}

func isCameraErr(err error) bool {
	return errors.Is(err, capture.ErrNoCamera) || errors.Is(err, capture.ErrCameraBusy)
}

func cameraError(err error) *ErrorState {
	e := &ErrorState{Kind: ErrorCamera, Detail: oneLine(err), Actions: []Action{ActionRetry, ActionQuit}}
	switch {
	case errors.Is(err, capture.ErrCameraBusy):
		e.Title = "Your camera is in use by another program"
		e.Message = "Close programs that may be using the camera (video calls such as Zoom or Teams, the Camera app, " +
			"a browser tab with a call), then select Try again."
	case errors.Is(err, capture.ErrNoCamera):
		e.Title = "No camera found"
		e.Message = "This exam records your camera. Connect a camera, or switch on the built-in one " +
			"(some laptops have a key or a privacy switch for it), then select Try again."
	default:
		e.Title = "The camera doesn't work"
		e.Message = "Invigil could not start your camera. Unplug it and plug it in again, or restart the computer, " +
			"then select Try again."
	}
	return e
}

func otherError(title string, err error) *ErrorState {
	return &ErrorState{Kind: ErrorOther, Title: title,
		Message: "Something went wrong on this computer. Try again; if it keeps happening, contact your school's exam support and show them this screen.",
		Detail:  oneLine(err), Actions: []Action{ActionRetry, ActionQuit}}
}

// oneLine is an error's text on one line, bounded: never a stack trace.
func oneLine(err error) string {
	if err == nil {
		return ""
	}
	s := strings.Join(strings.Fields(err.Error()), " ")
	return msg.Truncate(s, 300)
}
