package backend

import "testing"

func TestKernelAtLeast(t *testing.T) {
	for _, c := range []struct {
		rel  string
		want bool
	}{{"6.1.0-13-amd64", true}, {"5.8.0", true}, {"5.7.19", false}, {"4.19.0", false}, {"5.10", true}, {"6", false}, {"x.y", false}} {
		if got := kernelAtLeast(c.rel, 5, 8); got != c.want {
			t.Errorf("kernelAtLeast(%q, 5, 8) = %v, want %v", c.rel, got, c.want)
		}
	}
}
