package capture

import "testing"

func TestVirtualCamera(t *testing.T) {
	tests := []struct {
		label   string
		virtual bool
		product string
	}{
		{"OBS Virtual Camera", true, "OBS Virtual Camera"},
		{"OBS-Camera", true, "OBS Virtual Camera"},
		{"Dummy video device (0x0000) platform:v4l2loopback-000", true, "v4l2loopback"},
		{"Webcam platform:v4l2loopback-003", true, "v4l2loopback"},
		{"ManyCam Virtual Webcam", true, "ManyCam"},
		{"Snap Camera", true, "Snap Camera"},
		{"XSplit VCam", true, "XSplit VCam"},
		{"CamTwist", true, "CamTwist"},
		{"e2eSoft VCam", true, "e2eSoft VCam"},
		{"VCam", true, "e2eSoft VCam"},
		{"mmhmm Camera", true, "mmhmm"},
		{"NVIDIA Broadcast", true, "NVIDIA Broadcast"},
		{"DroidCam Source 3", true, "DroidCam"},
		{"Iriun Webcam", true, "Iriun Webcam"},
		{"EpocCam Camera", true, "EpocCam"},
		{"Camo", true, "Reincubate Camo"},
		{"Streamlabs OBS Virtual Webcam", true, "Streamlabs Virtual Webcam"},
		{"akvcam (out)", true, "akvcam"},
		{"Unity Video Capture", true, "Unity Video Capture"},
		{"Some Vendor Virtual Cam", true, "generic virtual camera"},
		// Real devices.
		{"Integrated Camera: Integrated C usb-0000:00:14.0-8", false, ""},
		{"HD Pro Webcam C920", false, ""},
		{"Logitech BRIO", false, ""},
		{"FaceTime HD Camera", false, ""},
		{"Microsoft® LifeCam HD-3000", false, ""},
		{"USB2.0 HD UVC WebCam", false, ""},
		{"Camouflage Cam 3000", false, ""}, // "camo" only as a whole word
		{"", false, ""},
	}
	for _, tt := range tests {
		got, reason := VirtualCamera(tt.label)
		if got != tt.virtual {
			t.Errorf("VirtualCamera(%q) = %v (%q), want %v", tt.label, got, reason, tt.virtual)
			continue
		}
		if tt.virtual && (len(reason) < len(tt.product) || reason[:len(tt.product)] != tt.product) {
			t.Errorf("VirtualCamera(%q) reason = %q, want product %q", tt.label, reason, tt.product)
		}
	}
}

func TestNewDeviceClassifies(t *testing.T) {
	d := newDevice("platform-v4l2loopback-0;video4", "Exam Cam", "platform:v4l2loopback-000")
	if !d.Virtual || d.VirtualReason == "" {
		t.Errorf("v4l2loopback bus not flagged: %+v", d)
	}
	d = newDevice("pci-0000:00:14.0-usb-0:8:1.0-video-index0;video0", "Integrated Camera", "usb-0000:00:14.0-8")
	if d.Virtual {
		t.Errorf("integrated camera flagged: %+v", d)
	}
}
