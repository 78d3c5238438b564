package lockdown

import "github.com/invigil/invigil/lockdown/policy"

// Virtual-key codes (Windows) the kiosk's keyboard hook decides on.
const (
	vkTab      = 0x09
	vkShift    = 0x10
	vkControl  = 0x11
	vkMenu     = 0x12 // Alt
	vkEscape   = 0x1B
	vkSnapshot = 0x2C // PrintScreen
	vkLWin     = 0x5B
	vkRWin     = 0x5C
	vkLShift   = 0xA0
	vkRShift   = 0xA1
	vkLControl = 0xA2
	vkRControl = 0xA3
	vkLMenu    = 0xA4
	vkRMenu    = 0xA5
)

// keyEvent is one key event as a low-level keyboard hook sees it.
type keyEvent struct {
	VK uint32
	// Up is true for a key release.
	Up bool
	// Alt is the hook's LLKHF_ALTDOWN flag: Alt is held.
	Alt bool
}

// keyVerdict is what to do with a key event.
type keyVerdict struct {
	// Swallow: nothing else (not the shell, not the focused program) sees
	// the event.
	Swallow bool
	// Report names the key combination to report ("Alt+Tab"), with the
	// policy action that applies; "" for nothing to report.
	Report string
	Action policy.Action
}

// keyDecider decides which key events the kiosk swallows, given the policy
// and the modifier state it tracks from the events themselves. It is pure
// logic (no OS calls) so that it is tested on every platform; on Windows
// the hook thread owns one and calls decide for every event.
type keyDecider struct {
	winKey, printScreen, appSwitch policy.Action
	// switchOpen: the policy lets the student switch to some programs
	// (kiosk.switch_to), so the switching keys work and the foreground
	// guard does the blocking.
	switchOpen bool

	lctrl, rctrl, lshift, rshift, lalt, ralt bool
	// swallowed holds the keys whose press was swallowed: their release
	// is swallowed too, so that nothing sees half a key stroke.
	swallowed map[uint32]bool
}

func newKeyDecider(k policy.Kiosk, goos string) *keyDecider {
	return &keyDecider{
		winKey: k.WindowsKey, printScreen: k.PrintScreen, appSwitch: k.AppSwitch,
		switchOpen: len(k.SwitchTo.For(goos)) > 0,
		swallowed:  map[uint32]bool{},
	}
}

// decide returns the verdict for one event and updates the modifier state.
func (d *keyDecider) decide(e keyEvent) keyVerdict {
	switch e.VK {
	case vkLControl, vkControl:
		d.lctrl = !e.Up
	case vkRControl:
		d.rctrl = !e.Up
	case vkLShift, vkShift:
		d.lshift = !e.Up
	case vkRShift:
		d.rshift = !e.Up
	case vkLMenu, vkMenu:
		d.lalt = !e.Up
	case vkRMenu:
		d.ralt = !e.Up
	}
	// Windows sets LLKHF_ALTDOWN while Alt is held; Wine 8 does not for
	// injected keys, so the decider also tracks Alt itself.
	e.Alt = e.Alt || d.lalt || d.ralt
	if e.Up {
		if d.swallowed[e.VK] {
			delete(d.swallowed, e.VK)
			return keyVerdict{Swallow: true}
		}
		if e.VK == vkSnapshot && d.printScreen == policy.Block {
			// Windows takes the screenshot on the release; a release
			// without a press seen (the hook started in between) is
			// swallowed too, and is harmless: PrintScreen is no modifier.
			return keyVerdict{Swallow: true, Report: d.mods(e) + "PrintScreen", Action: policy.Block}
		}
		return keyVerdict{}
	}
	ctrl, shift := d.lctrl || d.rctrl, d.lshift || d.rshift
	var name string
	var act policy.Action
	var isSwitch bool
	switch {
	case e.VK == vkLWin || e.VK == vkRWin:
		name, act = "Windows key", d.winKey
	case e.VK == vkSnapshot:
		name, act = d.mods(e)+"PrintScreen", d.printScreen
	case e.VK == vkTab && e.Alt:
		name, act, isSwitch = "Alt+Tab", d.appSwitch, true
		if shift {
			name = "Alt+Shift+Tab"
		}
	case e.VK == vkEscape && e.Alt:
		name, act, isSwitch = "Alt+Esc", d.appSwitch, true
	case e.VK == vkEscape && ctrl && shift:
		name, act, isSwitch = "Ctrl+Shift+Esc", d.appSwitch, true
	case e.VK == vkEscape && ctrl:
		name, act = "Ctrl+Esc", d.winKey
	default:
		return keyVerdict{}
	}
	if isSwitch && act == policy.Block && d.switchOpen {
		// Switching is allowed to some programs: the keys work and the
		// foreground guard keeps the others out.
		return keyVerdict{}
	}
	switch act {
	case policy.Block:
		d.swallowed[e.VK] = true
		return keyVerdict{Swallow: true, Report: name, Action: act}
	case policy.Flag:
		return keyVerdict{Report: name, Action: act}
	}
	return keyVerdict{}
}

// mods names the modifiers held, as a prefix ("Alt+").
func (d *keyDecider) mods(e keyEvent) string {
	s := ""
	if d.lctrl || d.rctrl {
		s += "Ctrl+"
	}
	if e.Alt {
		s += "Alt+"
	}
	if d.lshift || d.rshift {
		s += "Shift+"
	}
	return s
}

// foregroundAllowed reports whether a window of process pid (executable
// base name exe, "" if unknown) may be in front during the exam: it is
// invigil's own, or its program is in kiosk.switch_to.
func foregroundAllowed(self, pid int32, exe string, switchTo []string) bool {
	if pid == self {
		return true
	}
	if exe == "" {
		return false
	}
	for _, pat := range switchTo {
		if policy.MatchName(pat, exe) {
			return true
		}
	}
	return false
}
