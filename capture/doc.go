// Package capture opens camera and screen sources through pion/mediadevices,
// encodes them to H.264 with openh264, takes JPEG stills and adapts bitrate to
// the upload backlog. It never imports Fyne or transport.
package capture
