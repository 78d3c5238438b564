package policy

import "testing"

func TestMatchApp(t *testing.T) {
	const good = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	const other = "0000000000000000000000000000000000000000000000000000000000000000"
	p, err := Parse([]byte(`{"version": 1, "allowed_apps": [
		{"name": "Calculator", "names": {"linux": ["gnome-calculator"], "windows": ["calc"]}},
		{"name": "PDF reader", "names": {"all": ["evince"]}, "sha256": ["` + good + `"]},
		{"name": "Pinned tool", "sha256": ["` + other + `"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		goos  string
		names []string
		hash  string
		want  string
	}{
		{"linux", []string{"gnome-calculator"}, "", "Calculator"},
		{"linux", []string{"GNOME-Calculator"}, "", "Calculator"},
		{"linux", []string{"bash", "gnome-calculator"}, "", "Calculator"}, // the executable's base name
		{"windows", []string{"calc.exe"}, "", "Calculator"},
		{"darwin", []string{"gnome-calculator"}, "", ""}, // no pattern for darwin
		{"linux", []string{"evince"}, good, "PDF reader"},
		{"linux", []string{"evince"}, "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", "PDF reader"},
		{"linux", []string{"evince"}, "", ""},                                                                 // digest required, not known
		{"linux", []string{"evince"}, "1111111111111111111111111111111111111111111111111111111111111111", ""}, // renamed other program: name alone is not enough
		{"linux", []string{"okular"}, good, ""},                                                               // digest alone is not enough when names are set
		{"linux", []string{"anything"}, other, "Pinned tool"},
		{"linux", []string{"firefox"}, "", ""},
		{"linux", []string{""}, "", ""},
	} {
		got := ""
		if a := p.MatchApp(tc.goos, tc.names, tc.hash); a != nil {
			got = a.Name
		}
		if got != tc.want {
			t.Errorf("MatchApp(%s, %q, %.8s) = %q, want %q", tc.goos, tc.names, tc.hash, got, tc.want)
		}
	}
}
