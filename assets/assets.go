package assets

import _ "embed"

// DefaultPolicy is the exam policy the client enforces when it is given none
// (`invigil check` without --policy) and the policy the backend offers new
// exams: docs/policy.md explains it. lockdown/policy.Default parses it.
//
//go:embed default-policy.json
var DefaultPolicy []byte

// PrivacyNotice is the consent screen's text, a Go text/template filled in
// by lockdown/policy.RenderNotice from the policy's privacy and capture
// sections.
//
//go:embed privacy-notice.txt.tmpl
var PrivacyNotice string

// Icon is the application icon (SVG): the desktop client's window and
// title bar. IconPNG is the same at 512×512 for packaging (FyneApp.toml,
// the .desktop file).
//
//go:embed icon.svg
var Icon []byte

// IconPNG is Icon rendered at 512×512.
//
//go:embed icon.png
var IconPNG []byte
