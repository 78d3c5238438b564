package ui

import (
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/invigil/invigil/client"
)

// consentScreen shows the privacy notice; recording starts only after
// "I agree".
type consentScreen struct {
	page          *page
	title         *widget.Label
	notice        *widget.Label
	agree, reject *Button
}

func newConsentScreen(act Actions) *consentScreen {
	s := &consentScreen{title: subheading(""), notice: body("")}
	s.agree = iconButton("I agree", theme.ConfirmIcon(), true, act.Agree)
	s.reject = button("I do not agree", false, act.Decline)
	info := newBanner()
	info.set(toneInfo, "Recording starts when you select “I agree”, and a red Recording sign stays at the top of the window the whole time.")
	s.page = newPage(2, "Privacy notice", "Please read what is recorded, who sees it and how long it is kept.",
		container.NewVBox(info.root, surface(container.NewVBox(s.title, s.notice))), s.reject, s.agree)
	return s
}

func (s *consentScreen) object() fyne.CanvasObject { return s.page.root }

func (s *consentScreen) controls() []fyne.CanvasObject {
	return []fyne.CanvasObject{s.agree, s.reject}
}

func (s *consentScreen) update(st client.State) {
	if st.Consent != nil {
		title, text := reflowNotice(st.Consent.Notice)
		setText(s.title, title)
		setText(s.notice, text)
	}
}

// reflowNotice splits the notice's first line off as its title and joins
// the hard-wrapped lines of each paragraph, so that the label wraps them
// to the window; bullet lines and blank lines stay.
func reflowNotice(notice string) (title, text string) {
	lines := strings.Split(strings.TrimSpace(notice), "\n")
	title = strings.TrimSpace(lines[0])
	var b strings.Builder
	prevText := false
	for _, l := range lines[1:] {
		t := strings.TrimSpace(l)
		bullet := strings.HasPrefix(t, "•") || strings.HasPrefix(t, "-")
		switch {
		case t == "":
			b.WriteString("\n\n")
			prevText = false
		case bullet:
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
				b.WriteString("\n")
			}
			b.WriteString("   " + t)
			prevText = true
		case prevText && !strings.HasSuffix(b.String(), ":"):
			b.WriteString(" " + t)
		default:
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
				b.WriteString("\n")
			}
			b.WriteString(t)
			prevText = true
		}
	}
	text = strings.TrimSpace(b.String())
	for strings.Contains(text, "\n\n\n") {
		text = strings.ReplaceAll(text, "\n\n\n", "\n\n")
	}
	return title, text
}
