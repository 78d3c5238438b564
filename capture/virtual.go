package capture

import (
	"strings"
	"unicode"
)

// virtualRule recognises one virtual-camera product from a normalised label
// (lower case, runs of anything but letters and digits folded to one space,
// padded with a space on both sides, so " word " matches whole words).
type virtualRule struct {
	match   string // substring of the normalised label
	product string
}

// virtualRules is ordered: the first match wins and names the product.
// Sources: the device names these products register (DirectShow friendly
// names, AVFoundation names, V4L2 card labels) as users report them.
var virtualRules = []virtualRule{
	{" obs virtual camera ", "OBS Virtual Camera"},
	{" obs camera ", "OBS Virtual Camera"},
	{" obs cam ", "OBS Virtual Camera"},
	{" streamlabs ", "Streamlabs Virtual Webcam"},
	{" v4l2loopback ", "v4l2loopback"},
	{" dummy video device ", "v4l2loopback"},
	{" akvcam ", "akvcam"},
	{" webcamoid ", "Webcamoid"},
	{" manycam ", "ManyCam"},
	{" snap camera ", "Snap Camera"},
	{" xsplit ", "XSplit VCam"},
	{" camtwist ", "CamTwist"},
	{" e2esoft ", "e2eSoft VCam"},
	{" vcam ", "e2eSoft VCam"},
	{" mmhmm ", "mmhmm"},
	{" nvidia broadcast ", "NVIDIA Broadcast"},
	{" droidcam ", "DroidCam"},
	{" iriun ", "Iriun Webcam"},
	{" epoccam ", "EpocCam"},
	{" camo ", "Reincubate Camo"},
	{" logi capture ", "Logi Capture"},
	{" youcam ", "CyberLink YouCam"},
	{" splitcam ", "SplitCam"},
	{" altercam ", "AlterCam"},
	{" sparkocam ", "SparkoCam"},
	{" unity video capture ", "Unity Video Capture"},
	{" vmix video ", "vMix Video"},
	{" wirecast ", "Wirecast Virtual Camera"},
	{" ndi webcam ", "NDI Webcam"},
	{" newtek ndi ", "NDI Webcam"},
	{" facerig ", "FaceRig"},
	{" ecamm live ", "Ecamm Live"},
	{" chromacam ", "ChromaCam"},
	{" avatarify ", "Avatarify"},
	{" virtual ", "generic virtual camera"},
	{" virtualcam ", "generic virtual camera"},
	{" loopback ", "generic loopback device"},
}

// VirtualCamera reports whether a camera label names a software (virtual)
// camera, and why. label is whatever identifies the device to a person:
// Device.Name, optionally followed by Device.Bus. An empty reason means
// "not recognised as virtual", not "proven real".
func VirtualCamera(label string) (virtual bool, reason string) {
	norm := normaliseLabel(label)
	for _, r := range virtualRules {
		if strings.Contains(norm, r.match) {
			return true, r.product + ` (label matches "` + strings.TrimSpace(r.match) + `")`
		}
	}
	return false, ""
}

func normaliseLabel(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte(' ')
	space := true
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			space = false
			continue
		}
		if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	if !space {
		b.WriteByte(' ')
	}
	return b.String()
}
