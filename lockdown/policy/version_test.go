package policy

import (
	"strings"
	"testing"
)

func TestMinClientVersionValidated(t *testing.T) {
	for _, ok := range []string{"1.2", "0.1.0", "10.20.30"} {
		if _, err := Parse([]byte(`{"version":1,"min_client_version":"` + ok + `"}`)); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"1", "1.2.3.4", "v1.2", "1.x", "1..2", "1.2-rc1", " 1.2", "1.-2", "9999999.0"} {
		_, err := Parse([]byte(`{"version":1,"min_client_version":"` + bad + `"}`))
		if err == nil || !strings.Contains(err.Error(), "min_client_version") {
			t.Errorf("%q: err = %v, want a min_client_version problem", bad, err)
		}
	}
}

func TestClientOutdated(t *testing.T) {
	for _, c := range []struct {
		min, have string
		old       bool
	}{
		{"", "0.0.1", false},
		{"", "", false},
		{"0.2", "0.1.0", true},
		{"0.2", "0.2.0", false},
		{"0.2", "0.2", false},
		{"0.2", "0.10.0", false},
		{"0.2.1", "0.2.0", true},
		{"0.2.1", "0.2.1", false},
		{"1.0", "0.99.99", true},
		{"1.0", "2.0.0", false},
		{"1.0", "1.0.0-rc1", false},
		{"1.0", "v1.0.0", false},
		{"1.0", "", true},
		{"1.0", "dev", true},
		{"1.0", "1", true},
	} {
		if got := ClientOutdated(c.min, c.have); got != c.old {
			t.Errorf("ClientOutdated(%q, %q) = %v, want %v", c.min, c.have, got, c.old)
		}
	}
}
