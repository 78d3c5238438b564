package ui

import (
	"fmt"
	"image"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
)

// roomScanScreen guides the room scan: show the room to the camera while
// stills are taken, then upload them.
type roomScanScreen struct {
	page     *page
	preview  *preview
	status   *widget.Label
	progress *widget.ProgressBar
	problem  *banner
	start    *Button
}

func newRoomScanScreen(act Actions) *roomScanScreen {
	s := &roomScanScreen{preview: newPreview(448, 336), status: body(""), progress: widget.NewProgressBar(), problem: newBanner()}
	s.start = iconButton("Start room scan", theme.MediaRecordIcon(), true, act.StartRoomScan)
	how := steps("How to scan your room",
		"Select Start room scan.",
		"Slowly turn your camera (or laptop) all the way around the room, then show your desk.",
		"Keep going until the bar is full. It takes a few seconds.")
	side := container.NewVBox(how, s.status, s.progress, s.problem.root)
	card := previewCard(s.preview, side)
	s.page = newPage(4, "Show your room", "Your proctor checks that no notes, books or other people are in the room.", card, s.start)
	return s
}

func (s *roomScanScreen) object() fyne.CanvasObject { return s.page.root }

func (s *roomScanScreen) controls() []fyne.CanvasObject { return []fyne.CanvasObject{s.start} }

func (s *roomScanScreen) setFrame(img image.Image) { s.preview.show(img) }

func (s *roomScanScreen) update(st client.State) {
	r := st.RoomScan
	if r == nil {
		return
	}
	setVisible(s.start, r.Step == client.RoomScanIntro)
	setVisible(s.progress, r.Step != client.RoomScanIntro)
	switch r.Step {
	case client.RoomScanIntro:
		setText(s.status, "When you are ready, select Start room scan.")
	case client.RoomScanScanning:
		left := max(r.Ends.Sub(st.Now), 0).Round(time.Second)
		setText(s.status, fmt.Sprintf("Keep turning slowly. %s left (%s taken).", plural(int(left.Seconds()), "second", "seconds"), plural(r.Shots, "picture", "pictures")))
		s.progress.TextFormatter = func() string { return "Scanning" }
		s.progress.SetValue(scanFraction(r, st.Now))
	case client.RoomScanUploading:
		setText(s.status, "Done. Sending the pictures to the exam server…")
		s.progress.TextFormatter = func() string { return fmt.Sprintf("Uploading %.0f %%", r.Progress*100) }
		s.progress.SetValue(r.Progress)
	}
	s.problem.set(toneError, r.Problem)
}

// scanFraction is how far the scanning step is, from its end time.
func scanFraction(r *client.RoomScanState, now time.Time) float64 {
	left := r.Ends.Sub(now)
	if left <= 0 || r.Length <= 0 {
		return 1
	}
	return max(0, 1-float64(left)/float64(r.Length))
}
