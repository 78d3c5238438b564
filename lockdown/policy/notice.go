package policy

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
)

// NoticeData is what a privacy-notice template sees: the policy's name, its
// privacy section and its capture settings.
type NoticeData struct {
	ExamName string
	Privacy  Privacy
	Capture  Capture
}

func parseNotice(text string) (*template.Template, error) {
	return template.New("notice").Option("missingkey=error").Funcs(template.FuncMap{
		"join": strings.Join,
	}).Parse(text)
}

// RenderNotice fills in a privacy-notice template (Go text/template, the
// shipped one is assets.PrivacyNotice) with the policy's privacy and capture
// settings. The policy's own privacy.notice, when set, is used instead of
// tmpl.
func RenderNotice(tmpl string, p *Policy) (string, error) {
	if p.Privacy.Notice != "" {
		tmpl = p.Privacy.Notice
	}
	t, err := parseNotice(tmpl)
	if err != nil {
		return "", fmt.Errorf("privacy notice: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, NoticeData{ExamName: p.Name, Privacy: p.Privacy, Capture: p.Capture}); err != nil {
		return "", fmt.Errorf("privacy notice: %w", err)
	}
	return b.String(), nil
}
