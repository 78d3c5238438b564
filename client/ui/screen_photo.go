package ui

import (
	"bytes"
	"image"
	"image/jpeg"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
)

// photoScreen takes the ID photo: live preview, take, retake, upload.
type photoScreen struct {
	page              *page
	preview           *preview
	hint              *widget.Label
	progress          *widget.ProgressBar
	progressBox       *fyne.Container
	problem           *banner
	take, retake, use *Button
	shown             []byte // the taken photo the preview shows
}

func newPhotoScreen(act Actions) *photoScreen {
	s := &photoScreen{preview: newPreview(448, 336), hint: body(""), progress: widget.NewProgressBar(), problem: newBanner()}
	s.take = iconButton("Take photo", theme.MediaPhotoIcon(), true, act.TakePhoto)
	s.retake = iconButton("Retake", theme.ViewRefreshIcon(), false, act.Retake)
	s.use = iconButton("Use this photo", theme.ConfirmIcon(), true, act.UsePhoto)
	s.progressBox = container.NewVBox(s.progress)
	how := steps("How to take it",
		"Hold your student card or photo ID next to your face.",
		"Make sure your face and the card are both clear and not cut off.",
		"Select Take photo. You can retake it as often as you like.")
	side := container.NewVBox(how, s.hint, s.progressBox, s.problem.root)
	card := previewCard(s.preview, side)
	s.page = newPage(3, "Take your ID photo", "Your proctor compares this photo with your ID to confirm it is you.",
		card, s.retake, s.take, s.use)
	return s
}

func (s *photoScreen) object() fyne.CanvasObject { return s.page.root }

func (s *photoScreen) controls() []fyne.CanvasObject {
	return []fyne.CanvasObject{s.take, s.retake, s.use}
}

// setFrame shows a live picture: App.ShowFrame calls it only in the live
// step (CameraFor names no camera once the photo is taken).
func (s *photoScreen) setFrame(img image.Image) { s.preview.show(img) }

func (s *photoScreen) update(st client.State) {
	p := st.Photo
	if p == nil {
		return
	}
	// Live pictures replace a photo retaken: the next one taken shows even
	// if its bytes are the same.
	if p.Step == client.PhotoLive {
		s.shown = nil
	} else if p.Photo != nil && !bytes.Equal(p.Photo, s.shown) {
		s.shown = p.Photo
		if img, err := jpeg.Decode(bytes.NewReader(p.Photo)); err == nil {
			s.preview.show(img)
		}
	}
	setVisible(s.take, p.Step == client.PhotoLive)
	setVisible(s.retake, p.Step == client.PhotoTaken)
	setVisible(s.use, p.Step == client.PhotoTaken)
	setVisible(s.progressBox, p.Step == client.PhotoUploading)
	switch p.Step {
	case client.PhotoLive:
		setText(s.hint, "This is the live picture. Hold up your ID and select Take photo.")
	case client.PhotoTaken:
		setText(s.hint, "Is your face clear and your ID readable? If not, select Retake.")
	case client.PhotoUploading:
		setText(s.hint, "Sending your photo to the exam server.")
		s.progress.SetValue(p.Progress)
	}
	s.problem.set(toneError, p.Problem)
}

// escape implements escaper: Escape on a photo taken backs out to the
// live picture, as Retake does.
func (s *photoScreen) escape() bool {
	if !s.retake.Visible() || s.retake.Disabled() {
		return false
	}
	s.retake.Tapped(&fyne.PointEvent{})
	return true
}
