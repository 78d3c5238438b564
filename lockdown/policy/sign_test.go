package policy

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
)

func TestSignVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	doc := []byte(`{ "version": 1, "name": "Midterm" }`)
	s, err := Sign(priv, doc)
	if err != nil {
		t.Fatal(err)
	}
	p, key, err := s.Verify(pub)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Name != "Midterm" {
		t.Errorf("name = %q", p.Name)
	}
	want, _ := ConfigKey(doc)
	if key != want || len(key) != 64 {
		t.Errorf("config key = %q, want %q", key, want)
	}

	// One byte changed: refused.
	tampered := *s
	tampered.Policy = []byte(`{"name":"Midtern","version":1}`)
	if _, _, err := tampered.Verify(pub); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered policy: err = %v, want ErrBadSignature", err)
	}
	// Another backend's key: refused and named.
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, _, err := s.Verify(other); !errors.Is(err, ErrBadSignature) {
		t.Errorf("wrong key: err = %v, want ErrBadSignature", err)
	}
	// Key formatting round-trips.
	got, err := ParsePublicKey(FormatPublicKey(pub))
	if err != nil || !got.Equal(pub) {
		t.Errorf("ParsePublicKey(FormatPublicKey) = %v, %v", got, err)
	}
}
