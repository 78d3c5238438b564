package lockdown

import (
	"context"
	"fmt"
	"strings"

	"github.com/invigil/invigil/lockdown/policy"
)

// Camera is a camera device as the capture layer reports it. lockdown does
// not import capture: the client copies capture's device list into these.
type Camera struct {
	Label string `json:"label"`
	// Virtual and VirtualReason carry capture's own verdict (a
	// v4l2loopback driver, say); the policy's label list is checked on top.
	Virtual       bool   `json:"virtual,omitempty"`
	VirtualReason string `json:"virtual_reason,omitempty"`
}

// virtualReason says why cam counts as virtual, or "" if it does not.
func virtualReason(p *policy.Policy, cam Camera) string {
	if cam.Virtual {
		if cam.VirtualReason != "" {
			return cam.VirtualReason
		}
		return "the capture layer reports it as virtual"
	}
	l := strings.ToLower(cam.Label)
	for _, s := range p.VirtualCamera.Labels {
		if strings.Contains(l, strings.ToLower(s)) {
			return fmt.Sprintf("its label contains %q", s)
		}
	}
	return ""
}

// CheckCameras is the virtual-camera check over the cameras capture found.
// A nil list means the caller does not know (reported as unknown); an empty
// one means there is no camera at all.
func CheckCameras(p *policy.Policy, cams []Camera) CheckResult {
	r := CheckResult{ID: CheckCamera, Title: "Virtual camera"}
	if cams == nil {
		r.Status, r.Summary = StatusUnknown, "The camera list was not available"
		r.Error = "no camera list from the capture layer"
		return r
	}
	if len(cams) == 0 {
		r.Status, r.Summary = StatusUnknown, "No camera found"
		r.Error = "no camera devices"
		r.Fixes = []string{"Connect a webcam"}
		return r
	}
	r.Evidence = map[string]string{}
	var virtual []string
	for i, c := range cams {
		why := virtualReason(p, c)
		key := fmt.Sprintf("camera.%d", i)
		if why == "" {
			r.Evidence[key] = c.Label
			continue
		}
		r.Evidence[key] = c.Label + " (virtual: " + why + ")"
		virtual = append(virtual, c.Label)
	}
	if len(virtual) == 0 {
		r.Status, r.Summary = StatusPass, "No virtual camera"
		return r
	}
	r.Status = statusFor(p.VirtualCamera.Action)
	r.Summary = "Virtual camera found: " + strings.Join(virtual, ", ")
	if r.Status != StatusPass {
		r.Fixes = []string{"Close the program that provides " + strings.Join(virtual, ", ") + " (OBS, ManyCam, Snap Camera...) and use a real webcam"}
	}
	return r
}

// cameraDetector is the virtual-camera family: a camera that capture
// reports as virtual, or whose label the policy lists (OBS, ManyCam...), is
// a camera.virtual violation and a check that warns or fails per
// virtual_camera.action. It does not poll: the client tells the check
// (CheckOptions.Cameras) and the Monitor (SetCameras) which cameras capture
// found.
type cameraDetector struct{}

func (cameraDetector) name() string { return "camera" }

func (cameraDetector) check(_ context.Context, in *checkInput) []CheckResult {
	return []CheckResult{CheckCameras(in.p, in.cameras)}
}

func (cameraDetector) watch(m *Monitor) closeHooks {
	if m.opts.Cameras != nil {
		m.SetCameras(m.opts.Cameras)
	}
	return closeHooks{}
}

// SetCameras gives the Monitor the current camera devices (from capture);
// virtual ones open camera.virtual violations.
func (m *Monitor) SetCameras(cams []Camera) {
	var conds []cond
	if m.p.VirtualCamera.Action != policy.Allow {
		for _, c := range cams {
			if why := virtualReason(m.p, c); why != "" {
				conds = append(conds, cond{key: "camera:" + c.Label, code: CodeCameraVirtual, sev: severityFor(m.p.VirtualCamera.Action),
					summary: "Virtual camera: " + c.Label, evidence: map[string]string{"label": c.Label, "reason": why}})
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reconcileLocked("camera", conds, m.opts.Clock.Now())
}
