package main

import "testing"

func TestWantsConsole(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{nil, false}, // the app
		{[]string{"help"}, true},
		{[]string{"check", "--json"}, true},
		{[]string{"reset"}, true},
		{[]string{"version"}, true},
		{[]string{"run", "--headless", "--server", "x"}, true},
		{[]string{"run", "-headless=true"}, true},
		{[]string{"run"}, false},
		{[]string{"run", "invigil://join?code=A"}, false},
		{[]string{"run", "--server", "http://x", "--code", "headless"}, false},
	}
	for _, tt := range tests {
		if got := wantsConsole(tt.args); got != tt.want {
			t.Errorf("wantsConsole(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}
