package client

import (
	"errors"
	"strings"

	"github.com/invigil/invigil/capture"
	"github.com/invigil/invigil/transport"
)

// The error screens' texts: what happened and what to do, in plain words.
// Detail carries the technical cause in one line for IT staff.

func unreachableError(server string, err error, spoolSafe bool) *ErrorState {
	msg := "Invigil cannot connect to " + hostOf(server) + ". Check that this computer is online (Wi-Fi or network cable). " +
		"Invigil keeps trying by itself."
	return &ErrorState{Kind: ErrorUnreachable, Title: "Can't reach the exam server", Message: msg,
		Detail: oneLine(err), SpoolSafe: spoolSafe, Actions: []Action{ActionRetry, ActionQuit}}
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
		e.Message = "This exam needs a newer Invigil than this one (" + Version + "). " + re.Message + "."
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
	return truncate(s, 300)
}
