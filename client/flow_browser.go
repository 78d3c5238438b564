package client

import (
	"context"
	"errors"
	"slices"

	"github.com/invigil/invigil/client/exam"
)

// browserOpener is an ExamRun that can open the exam browser (*exam.Exam).
type browserOpener interface {
	OpenBrowser(ctx context.Context) error
}

// browserHolder is an ExamRun with an exam browser (for focus attribution).
type browserHolder interface {
	BrowserPIDs() []int
}

// openExamBrowser opens the exam browser when the exam screen first shows,
// if the policy has one; a failure is shown on the exam screen (the
// recording goes on, and the proctor sees a browser.failed event).
func (f *Flow) openExamBrowser() {
	if f.joined == nil || f.joined.Policy == nil || !f.joined.Policy.ExamBrowser.Enabled() {
		return
	}
	o, ok := f.exam.(browserOpener)
	if !ok {
		return
	}
	f.examState.ExamBrowser = true
	ex := f.exam
	if h, ok := f.exam.(browserHolder); ok {
		// The exam browser's windows are the exam's own: focus on them is
		// no focus loss (focus.go).
		f.SetFocusAllowed(func(pid int) bool { return slices.Contains(h.BrowserPIDs(), pid) })
	}
	f.goJob(func(ctx context.Context) func() {
		err := o.OpenBrowser(ctx)
		if err == nil || errors.Is(err, exam.ErrExamStopped) || ctx.Err() != nil {
			return nil
		}
		return func() {
			if ex != f.exam || f.finishStarted {
				return
			}
			f.log.Warn("exam browser", "err", err)
			f.examState.Problem = "The exam page could not be opened (" + oneLine(err) + "). " +
				"The recording goes on. Tell your proctor."
			if f.st.Screen == ScreenExam {
				f.publish()
			}
		}
	})
}
