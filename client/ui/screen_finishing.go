package ui

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
)

// LabelUploadLater is the finishing screen's button when the upload
// cannot go on.
const LabelUploadLater = "Upload later"

// finishingScreen is the upload drain after the exam.
type finishingScreen struct {
	page     *page
	ended    *banner
	progress *widget.ProgressBar
	count    *widget.Label
	conn     *banner
	later    *Button
}

func newFinishingScreen(act Actions) *finishingScreen {
	s := &finishingScreen{ended: newBanner(), progress: widget.NewProgressBar(), count: body(""), conn: newBanner()}
	s.later = button(LabelUploadLater, false, act.UploadLater)
	card := surface(container.NewVBox(subheading("Uploading"), s.progress, s.count))
	s.page = newPage(6, "Finishing your exam",
		"The recording has stopped. Invigil is uploading what is left; keep it open until your receipt appears.",
		container.NewVBox(s.ended.root, card, s.conn.root), s.later)
	return s
}

func (s *finishingScreen) object() fyne.CanvasObject { return s.page.root }

func (s *finishingScreen) controls() []fyne.CanvasObject { return []fyne.CanvasObject{s.later} }

func (s *finishingScreen) update(st client.State) {
	f := st.Finishing
	if f == nil {
		return
	}
	if f.EndedByProctor {
		msg := "Your proctor ended the exam."
		if f.EndText != "" {
			msg += " They said: “" + f.EndText + "”"
		}
		s.ended.set(toneWarning, msg)
	}
	s.progress.SetValue(f.Progress)
	left := f.Total - f.Uploaded
	if left == 0 {
		setText(s.count, "Everything is uploaded. Confirming with the exam server…")
	} else {
		setText(s.count, fmt.Sprintf("%d of %d parts uploaded, %d to go.", f.Uploaded, f.Total, left))
	}
	if f.Connected {
		s.conn.set(toneInfo, "")
	} else {
		s.conn.set(toneWarning, "Waiting for the connection to the exam server… Your recording is safe on this computer. "+
			"If you must leave, select Upload later: Invigil finishes the upload the next time you open it with the same link.")
	}
	setVisible(s.later, !f.Connected)
}
