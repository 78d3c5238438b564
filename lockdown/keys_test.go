package lockdown

import (
	"testing"

	"github.com/invigil/invigil/lockdown/policy"
)

func down(vk uint32) keyEvent    { return keyEvent{VK: vk} }
func up(vk uint32) keyEvent      { return keyEvent{VK: vk, Up: true} }
func altDown(vk uint32) keyEvent { return keyEvent{VK: vk, Alt: true} }
func altUp(vk uint32) keyEvent   { return keyEvent{VK: vk, Up: true, Alt: true} }

// TestKeyDecider feeds key sequences to the decision logic of the Windows
// keyboard hook and checks, event by event, what is swallowed and what is
// reported.
func TestKeyDecider(t *testing.T) {
	blockAll := policy.Kiosk{WindowsKey: policy.Block, PrintScreen: policy.Block, AppSwitch: policy.Block}
	withCalc := blockAll
	withCalc.SwitchTo = policy.OSList{Windows: []string{"calc*.exe"}}
	flagAll := policy.Kiosk{WindowsKey: policy.Flag, PrintScreen: policy.Flag, AppSwitch: policy.Flag}
	allowAll := policy.Kiosk{WindowsKey: policy.Allow, PrintScreen: policy.Allow, AppSwitch: policy.Allow}

	type step struct {
		e       keyEvent
		swallow bool
		report  string
	}
	tests := []struct {
		name  string
		k     policy.Kiosk
		steps []step
	}{
		{"windows key and its release", blockAll, []step{
			{down(vkLWin), true, "Windows key"}, {down(0x44), false, ""}, // Win+D: D alone reaches the system
			{up(0x44), false, ""}, {up(vkLWin), true, ""},
		}},
		{"right windows key", blockAll, []step{{down(vkRWin), true, "Windows key"}, {up(vkRWin), true, ""}}},
		{"windows key release without press passes", blockAll, []step{{up(vkLWin), false, ""}}},
		{"ctrl+esc opens start", blockAll, []step{
			{down(vkLControl), false, ""}, {down(vkEscape), true, "Ctrl+Esc"}, {up(vkEscape), true, ""}, {up(vkLControl), false, ""},
			{down(vkEscape), false, ""}, // Esc alone is the exam's
		}},
		{"printscreen with and without alt", blockAll, []step{
			{down(vkSnapshot), true, "PrintScreen"}, {up(vkSnapshot), true, ""},
			{altDown(vkSnapshot), true, "Alt+PrintScreen"}, {altUp(vkSnapshot), true, ""},
		}},
		{"printscreen release alone is swallowed and reported", blockAll, []step{{up(vkSnapshot), true, "PrintScreen"}}},
		{"alt+tab, alt+shift+tab, alt+esc", blockAll, []step{
			{altDown(vkLMenu), false, ""}, {altDown(vkTab), true, "Alt+Tab"}, {altUp(vkTab), true, ""},
			{altDown(vkLShift), false, ""}, {altDown(vkTab), true, "Alt+Shift+Tab"}, {altUp(vkTab), true, ""}, {altUp(vkLShift), false, ""},
			{altDown(vkEscape), true, "Alt+Esc"}, {altUp(vkEscape), true, ""}, {up(vkLMenu), false, ""},
			{down(vkTab), false, ""}, // Tab alone moves focus in the exam
		}},
		{"alt+tab without the hook's alt flag (Wine)", blockAll, []step{
			{down(vkLMenu), false, ""}, {down(vkTab), true, "Alt+Tab"}, {up(vkTab), true, ""}, {up(vkLMenu), false, ""},
			{down(vkTab), false, ""},
		}},
		{"ctrl+shift+esc (task manager)", blockAll, []step{
			{down(vkRControl), false, ""}, {down(vkRShift), false, ""}, {down(vkEscape), true, "Ctrl+Shift+Esc"}, {up(vkEscape), true, ""},
		}},
		{"switch_to lets the switching keys through but not the rest", withCalc, []step{
			{altDown(vkTab), false, ""}, {altDown(vkEscape), false, ""},
			{down(vkLWin), true, "Windows key"}, {down(vkSnapshot), true, "PrintScreen"},
		}},
		{"flag lets keys through and reports", flagAll, []step{
			{down(vkLWin), false, "Windows key"}, {up(vkLWin), false, ""},
			{down(vkSnapshot), false, "PrintScreen"}, {up(vkSnapshot), false, ""},
			{altDown(vkTab), false, "Alt+Tab"},
		}},
		{"allow does nothing", allowAll, []step{
			{down(vkLWin), false, ""}, {down(vkSnapshot), false, ""}, {up(vkSnapshot), false, ""}, {altDown(vkTab), false, ""},
		}},
		{"ordinary typing", blockAll, []step{
			{down(0x41), false, ""}, {up(0x41), false, ""}, {down(vkLControl), false, ""}, {down(0x43), false, ""}, // Ctrl+C
			{up(0x43), false, ""}, {up(vkLControl), false, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newKeyDecider(tt.k, "windows")
			for i, s := range tt.steps {
				v := d.decide(s.e)
				if v.Swallow != s.swallow || v.Report != s.report {
					t.Errorf("step %d %+v: got swallow=%v report=%q, want swallow=%v report=%q", i, s.e, v.Swallow, v.Report, s.swallow, s.report)
				}
				if v.Report != "" && v.Action == "" {
					t.Errorf("step %d: report without an action", i)
				}
			}
		})
	}
}

func TestForegroundAllowed(t *testing.T) {
	calc := []string{"calc.exe", "galculator"}
	tests := []struct {
		pid  int32
		exe  string
		want bool
	}{
		{100, "invigil.exe", true}, // our own pid
		{200, "CalculatorApp.exe", false},
		{200, "calc.exe", true},
		{200, "Calc.EXE", true},
		{200, "notepad.exe", false},
		{200, "", false}, // unknown program: not allowed
	}
	for _, tt := range tests {
		if got := foregroundAllowed(100, tt.pid, tt.exe, calc); got != tt.want {
			t.Errorf("foregroundAllowed(pid %d, %q) = %v, want %v", tt.pid, tt.exe, got, tt.want)
		}
	}
}
