// The system check screen: lockdown's check, the network test, the camera
// preview, closing programs, and Continue to the privacy notice.

package client

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/lockdown"
)

// minUploadRate is what camera and screen at the default bitrates need
// (docs/protocol.md, network test).
const minUploadRate = 30e3

// startCheck shows the check screen and runs everything on it: lockdown's
// check, the network test and the camera preview.
func (f *Flow) startCheck() {
	f.show(ScreenCheck)
	f.st.Check = &CheckState{Running: true, Unpinned: f.joined.Unpinned, Resumed: f.joined.Resumed}
	f.netItem = CheckItem{ID: CheckItemNetwork, Title: "Connection to the exam server", Status: lockdown.StatusUnknown,
		Summary: "Measuring the upload speed…", Running: true}
	f.previewItem = CheckItem{}
	if f.needsCamera() && f.preview == nil {
		f.previewItem = CheckItem{ID: CheckItemCamera, Title: "Camera", Status: lockdown.StatusUnknown, Summary: "Starting the camera…", Running: true}
		f.openPreview()
	} else if f.preview != nil {
		f.previewItem = cameraOK()
		f.st.Check.Camera = f.preview
	}
	f.runCheck()
	f.runSpeedTest()
	f.updateCheck()
}

func (f *Flow) needsCamera() bool {
	if f.joined == nil || f.joined.Policy == nil {
		return false
	}
	cam, _ := exam.CaptureConfigs(f.joined.Policy, exam.Sources{Camera: f.cfg.Camera, Screen: "none"})
	return cam != nil
}

func cameraOK() CheckItem {
	return CheckItem{ID: CheckItemCamera, Title: "Camera", Status: lockdown.StatusPass,
		Summary: "Your camera works. Check that your face is well lit and fully in the picture."}
}

func (f *Flow) runCheck() {
	f.checkGen++
	gen := f.checkGen
	f.st.Check.Running = true
	p := f.joined.Policy
	f.goJob(func(ctx context.Context) func() {
		r := f.env.Check(ctx, p)
		return func() {
			if f.st.Screen != ScreenCheck || gen != f.checkGen {
				return
			}
			f.report, f.checkDone = r, true
			f.st.Check.Running = false
			f.updateCheck()
		}
	})
}

func (f *Flow) runSpeedTest() {
	j := f.joined
	f.goJob(func(ctx context.Context) func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		rate, err := f.env.SpeedTest(sctx, j)
		return func() {
			if f.joined != j {
				return
			}
			f.netItem = networkItem(rate, err)
			if f.st.Screen == ScreenCheck {
				f.updateCheck()
			}
		}
	})
}

func networkItem(rate float64, err error) CheckItem {
	it := CheckItem{ID: CheckItemNetwork, Title: "Connection to the exam server"}
	switch {
	case err != nil:
		it.Status, it.Summary = lockdown.StatusWarn, "The upload speed could not be measured."
		it.Fixes = []string{"Move closer to your Wi-Fi router or use a network cable. Recordings wait on this computer until they can be uploaded."}
	case rate < minUploadRate:
		it.Status, it.Summary = lockdown.StatusWarn, fmt.Sprintf("Uploads are slow (%s/s; the exam needs about %s/s).", exam.HumanBytes(int64(rate)), exam.HumanBytes(minUploadRate))
		it.Fixes = []string{"Close programs that use the network (video streaming, downloads, cloud sync) or move closer to your Wi-Fi router. Nothing is lost: recordings wait on this computer until they are uploaded."}
	default:
		it.Status, it.Summary = lockdown.StatusPass, fmt.Sprintf("Good: uploads run at %s/s.", exam.HumanBytes(int64(rate)))
	}
	return it
}

func (f *Flow) openPreview() {
	f.previewGen++
	gen := f.previewGen
	p := f.joined.Policy
	f.goJobOwning(func(ctx context.Context) (func(), func()) {
		octx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		pv, err := f.env.OpenPreview(octx, p)
		release := func() {
			if pv != nil {
				pv.Close()
			}
		}
		return func() {
			if f.st.Screen != ScreenCheck || gen != f.previewGen {
				release()
				return
			}
			if err != nil {
				f.log.Warn("camera preview", "err", err)
				f.showError(cameraError(err), f.startCheck)
				return
			}
			f.preview = pv
			f.previewItem = cameraOK()
			f.st.Check.Camera = pv
			f.updateCheck()
		}, release
	})
}

func (f *Flow) closePreview() {
	f.previewGen++
	if f.preview != nil {
		if err := f.preview.Close(); err != nil {
			f.log.Warn("closing the camera preview", "err", err)
		}
		f.preview = nil
	}
}

// updateCheck rebuilds the check screen's rows and buttons.
func (f *Flow) updateCheck() {
	c := f.st.Check
	c.Items = c.Items[:0]
	if f.previewItem.ID != "" {
		c.Items = append(c.Items, f.previewItem)
	}
	c.Items = append(c.Items, f.netItem)
	c.Closable = nil
	if f.checkDone {
		for _, r := range f.report.Checks {
			c.Items = append(c.Items, CheckItem{ID: r.ID, Title: r.Title, Status: r.Status, Summary: r.Summary, Fixes: r.Fixes})
		}
		c.Closable = programNames(f.report.Closable())
	} else {
		c.Items = append(c.Items, CheckItem{ID: "lockdown", Title: "This computer", Status: lockdown.StatusUnknown,
			Summary: "Checking programs, displays and the camera…", Running: true})
	}
	for _, k := range f.joined.Kept {
		c.Items = append(c.Items, keptItem(k))
	}
	if f.closeNote != "" && f.checkDone {
		c.Items = append(c.Items, CheckItem{ID: "closed", Title: "Closed programs", Status: lockdown.StatusPass, Summary: f.closeNote})
	}
	c.Blocking = ""
	switch {
	case !f.checkDone || f.netItem.Running || f.previewItem.Running:
		c.Blocking = "Wait for the check to finish."
	case f.report.Failed():
		c.Blocking = "Fix the problems marked in red, then select Check again."
	}
	c.CanContinue = c.Blocking == "" && !c.Closing
	f.publish()
}

// keptItem tells the student that another exam's unfinished session waits
// on this computer, and how it gets uploaded. It does not block Continue.
func keptItem(k exam.KeptSession) CheckItem {
	exam := "another exam"
	if k.Exam != "" {
		exam = "“" + k.Exam + "”"
	}
	if k.Exam == "" && k.Code != "" {
		exam = "the exam with code " + k.Code
	}
	it := CheckItem{ID: "kept." + k.SessionID, Title: "Another exam's recording", Status: lockdown.StatusWarn,
		Summary: "An unfinished session of " + exam + " is kept on this computer and will be uploaded when you open its link again. " +
			"It is not part of this exam."}
	if !k.SameServer {
		it.Summary = "An unfinished session of " + exam + " (on " + hostOf(k.Server) + ") is kept on this computer and will be uploaded when you open its link again. " +
			"It is not part of this exam."
	}
	it.Fixes = []string{"Nothing to do now. After this exam, open the link of " + exam + " again so that its recording is uploaded."}
	return it
}

func (f *Flow) doCheckAgain() {
	if f.st.Screen != ScreenCheck || f.st.Check.Closing {
		return
	}
	f.checkDone = false
	f.closeNote = ""
	f.runCheck()
	if !f.netItem.Running {
		f.netItem.Running, f.netItem.Summary = true, "Measuring the upload speed…"
		f.runSpeedTest()
	}
	f.updateCheck()
}

func (f *Flow) doCloseApps() {
	if f.st.Screen != ScreenCheck || !f.checkDone || f.st.Check.Closing {
		return
	}
	procs := f.report.Closable()
	if len(procs) == 0 {
		return
	}
	f.st.Check.Closing = true
	f.updateCheck()
	gen := f.checkGen
	f.goJob(func(ctx context.Context) func() {
		res := f.env.CloseApps(ctx, procs)
		return func() {
			if f.st.Screen != ScreenCheck || gen != f.checkGen {
				return
			}
			f.st.Check.Closing = false
			f.closeNote = closeSummary(res)
			f.checkDone = false
			f.runCheck()
			f.updateCheck()
		}
	})
}

// programNames are the programs of procs as a student knows them (the
// policy's name, else the process name), each once, in order.
func programNames(procs []lockdown.ProcessFinding) []string {
	var names []string
	for _, p := range procs {
		n := p.Program
		if n == "" {
			n = p.Name
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

func closeSummary(res []lockdown.CloseResult) string {
	var closed, failed []string
	for _, r := range res {
		if r.Outcome == "failed" {
			failed = append(failed, r.Name)
		} else {
			closed = append(closed, r.Name)
		}
	}
	var parts []string
	if len(closed) > 0 {
		parts = append(parts, "Closed "+strings.Join(closed, ", ")+".")
	}
	if len(failed) > 0 {
		parts = append(parts, "Could not close "+strings.Join(failed, ", ")+": close it yourself.")
	}
	return strings.Join(parts, " ")
}

func (f *Flow) doContinue() {
	if f.st.Screen != ScreenCheck || !f.st.Check.CanContinue {
		return
	}
	// The preview closes: recording opens the camera again after consent.
	f.closePreview()
	f.showConsent()
}
