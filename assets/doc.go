// Package assets embeds the files the binaries ship with: the default exam
// policy (DefaultPolicy), the privacy-notice template (PrivacyNotice) and
// the application icon (Icon as SVG, IconPNG at 512×512). Nothing else:
// the proctor dashboard's web files are not part of this package. It
// imports nothing of the project.
package assets
