package lockdown

import (
	"errors"
	"testing"
)

func TestLinuxHiddenWindows(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if _, err := linuxHiddenWindows(env(map[string]string{"DISPLAY": ":0"})); !errors.Is(err, errNotApplicable) {
		t.Errorf("X11: err = %v, want not applicable", err)
	}
	if _, err := linuxHiddenWindows(env(map[string]string{"WAYLAND_DISPLAY": "wayland-0"})); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Wayland: err = %v, want ErrUnsupported (cannot tell)", err)
	}
	if _, err := linuxHiddenWindows(env(map[string]string{"XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"})); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Wayland with Xwayland: err = %v, want ErrUnsupported", err)
	}
}
