package policy

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/invigil/invigil/assets"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// TestParseGolden parses every testdata/parse/*.json and compares the
// normalised policy (defaults filled in), or the error, with the .golden file
// beside it. Run with -update to rewrite them after a deliberate change.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/parse/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(in)
			var got []byte
			if err != nil {
				if !strings.HasPrefix(name, "bad-") {
					t.Errorf("Parse: %v", err)
				}
				got = []byte("error: " + err.Error() + "\n")
			} else {
				if strings.HasPrefix(name, "bad-") {
					t.Errorf("Parse succeeded, want an error")
				}
				got, _ = json.MarshalIndent(p, "", "  ")
				got = append(got, '\n')
			}
			golden := strings.TrimSuffix(f, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Parse(%s) differs from %s\n got: %s\nwant: %s", f, golden, got, want)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	p := Default()
	if len(p.Processes.Prohibited) < 40 {
		t.Errorf("default policy has %d prohibited programs, want a real list", len(p.Processes.Prohibited))
	}
	if p.VirtualMachine != Flag {
		t.Errorf("default virtual_machine = %q, want flag (VM checks misfire on real laptops)", p.VirtualMachine)
	}
	// Every OS gets rules for the well-known tools.
	for _, goos := range []string{"linux", "windows", "darwin"} {
		for _, want := range []string{"teamviewer", "anydesk", "zoom", "discord", "obs-studio"} {
			var found bool
			for _, r := range p.Processes.Prohibited {
				if r.ID == want && len(r.Names.For(goos)) > 0 {
					found = true
				}
			}
			if !found {
				t.Errorf("default policy has no %s names for %s", want, goos)
			}
		}
	}
	// Default returns a copy.
	p.Name = "changed"
	if Default().Name == "changed" {
		t.Error("Default returned shared state")
	}
	// The default policy can be signed and verified as it is.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := Sign(priv, assets.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Verify(pub); err != nil {
		t.Fatal(err)
	}
}

// A signed policy with one byte changed anywhere in it is refused.
func TestTamperedDefault(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := Sign(priv, assets.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(s.Policy, []byte(`"max":1`))
	tampered := *s
	tampered.Policy = bytes.Clone(s.Policy)
	tampered.Policy[i+len(`"max":`)] = '2'
	_, _, err = tampered.Verify(pub)
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered policy: err = %v, want ErrBadSignature", err)
	}
	if !strings.Contains(err.Error(), "signature does not verify") {
		t.Errorf("message %q does not say what is wrong", err)
	}
}

func TestMatchName(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"anydesk", "anydesk", true},
		{"anydesk", "AnyDesk", true},
		{"anydesk", "AnyDesk.exe", true},
		{"AnyDesk.exe", "anydesk.exe", true},
		{"anydesk.exe", "anydesk", false},
		{"anydesk", "anydesk2", false},
		{"TeamViewerQS*.exe", "TeamViewerQS_en.exe", true},
		{"ScreenConnect*", "ScreenConnect.ClientService.exe", true},
		{"screenconnect*", "connect", false},
		{"vncviewer*.exe", "vncviewer.exe", true},
		{"x11vnc", "x11vnc-wrapper", false},
		{"[", "[", false}, // invalid glob never matches (Validate refuses it)
	}
	for _, tt := range tests {
		if got := MatchName(tt.pattern, tt.name); got != tt.want {
			t.Errorf("MatchName(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestRenderNotice(t *testing.T) {
	p := Default()
	p.Name = "Physics final"
	p.Privacy.Contact = "exams@example.edu"
	got, err := RenderNotice(assets.PrivacyNotice, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Physics final", "30 days", "your webcam video", "proctors", "exams@example.edu", "640×480 at 15"} {
		if !strings.Contains(got, want) {
			t.Errorf("notice lacks %q:\n%s", want, got)
		}
	}
	p.Privacy.Notice = "{{.ExamName}} keeps {{.Privacy.RetentionDays}} days"
	if got, err := RenderNotice(assets.PrivacyNotice, p); err != nil || got != "Physics final keeps 30 days" {
		t.Errorf("policy notice: got %q, %v", got, err)
	}
}

// Parsing, marshalling and parsing again gives the same policy, so a parsed
// policy can be stored and signed as JSON.
func TestRoundTrip(t *testing.T) {
	p := Default()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Error("default policy does not round-trip")
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/parse/*.json")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Add(assets.DefaultPolicy)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal parsed policy: %v", err)
		}
		q, err := Parse(out)
		if err != nil {
			t.Fatalf("parsed policy does not re-parse: %v\n%s", err, out)
		}
		out2, _ := json.Marshal(q)
		if !bytes.Equal(out, out2) {
			t.Fatalf("not a fixed point:\n%s\n%s", out, out2)
		}
	})
}
