// The privacy notice: agree, decline, back to the notice.

package client

import (
	"fmt"

	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/lockdown/policy"
)

// doBackToNotice returns from the "you declined" screen to the notice; from
// anywhere else it would skip a step (the check, say), so it does nothing.
func (f *Flow) doBackToNotice() {
	if f.st.Screen == ScreenError && f.st.Error.Kind == ErrorDeclined {
		f.showConsent()
	}
}

func (f *Flow) showConsent() {
	if f.joined == nil || f.exam != nil {
		return
	}
	// The notice is headed with the exam's name as the backend gives it
	// (the one the student chose), not the policy's.
	p := *f.joined.Policy
	if f.st.ExamName != "" {
		p.Name = f.st.ExamName
	}
	notice, err := policy.RenderNotice(f.opts.Notice, &p)
	if err != nil {
		f.showError(badPolicyError(fmt.Errorf("%w: %w", exam.ErrBadPolicy, err)), nil)
		return
	}
	f.notice = notice
	f.show(ScreenConsent)
	f.st.Consent = &ConsentState{Notice: notice}
	f.publish()
}

func (f *Flow) doDecline() {
	if f.st.Screen != ScreenConsent {
		return
	}
	ask := "If you have questions about your data, ask your teacher before you agree."
	if c := f.joined.Policy.Privacy.Contact; c != "" {
		ask = "If you have questions about your data, ask " + c + " (the contact the notice gives) before you agree."
	}
	f.showError(&ErrorState{Kind: ErrorDeclined, Title: "The exam needs your agreement",
		Message: "You did not agree to the recording, so the exam cannot start. Nothing was recorded. " + ask,
		Actions: []Action{ActionBackNotice, ActionQuit}}, nil)
}

func (f *Flow) doAgree() {
	if f.st.Screen != ScreenConsent || f.exam != nil {
		return
	}
	f.startRecording(f.joined)
}
