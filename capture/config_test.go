package capture

import (
	"testing"
	"time"
)

func TestConfigDefaultsAndLimits(t *testing.T) {
	got, err := Config{}.withDefaults(DefaultCameraConfig())
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultCameraConfig(); got != want {
		t.Errorf("zero camera config = %+v, want %+v", got, want)
	}
	got, err = Config{Source: "1", FPS: 2}.withDefaults(DefaultScreenConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got.Source != "1" || got.FPS != 2 || got.BitrateKbps != 80 || got.KeyframeInterval != 10*time.Second {
		t.Errorf("screen config = %+v", got)
	}
	bad := []Config{
		{FPS: 100},
		{FPS: 0.01},
		{BitrateKbps: 5},
		{BitrateKbps: 50000},
		{KeyframeInterval: time.Millisecond},
		{Width: -1, Height: 10},
		{Width: 10000, Height: 10},
	}
	for _, c := range bad {
		if _, err := c.withDefaults(DefaultCameraConfig()); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
