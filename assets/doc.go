// Package assets embeds the files the binaries ship with: the default exam
// policy, the privacy-notice template, icons and the dashboard's web files.
// It imports nothing of the project.
package assets
