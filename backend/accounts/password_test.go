package accounts

import (
	"errors"
	"strings"
	"testing"
)

// fastParams keep tests quick; DefaultParams are exercised by the
// benchmark and one test.
var fastParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashPasswordPHC(t *testing.T) {
	phc, err := HashPassword("correct horse battery", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("PHC string %q: want prefix $argon2id$v=19$m=19456,t=2,p=1$", phc)
	}
	rehash, err := VerifyPassword("correct horse battery", phc, DefaultParams)
	if err != nil || rehash {
		t.Errorf("VerifyPassword(right) = %v, %v; want false, nil", rehash, err)
	}
	if _, err := VerifyPassword("correct horse batterY", phc, DefaultParams); !errors.Is(err, ErrMismatch) {
		t.Errorf("VerifyPassword(wrong) = %v; want ErrMismatch", err)
	}
	rehash, err = VerifyPassword("correct horse battery", phc, fastParams)
	if err != nil || !rehash {
		t.Errorf("VerifyPassword under other params = %v, %v; want rehash", rehash, err)
	}
}

func TestParsePHCRejects(t *testing.T) {
	good, _ := HashPassword("x", fastParams)
	parts := strings.Split(good, "$")
	for _, tc := range []struct{ name, phc string }{
		{"empty", ""},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuuAbcdefghijklmnopqrstuvwxyz012"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"version", strings.Replace(good, "v=19", "v=16", 1)},
		{"huge memory", "$argon2id$v=19$m=4294967295,t=1,p=1$" + parts[4] + "$" + parts[5]},
		{"huge time", "$argon2id$v=19$m=64,t=100000,p=1$" + parts[4] + "$" + parts[5]},
		{"zero threads", "$argon2id$v=19$m=64,t=1,p=0$" + parts[4] + "$" + parts[5]},
		{"bad salt", "$argon2id$v=19$m=64,t=1,p=1$!!$" + parts[5]},
		{"short key", "$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$AAAA"},
		{"extra field", good + "$x"},
	} {
		if _, _, _, err := ParsePHC(tc.phc); err == nil {
			t.Errorf("%s: ParsePHC(%q) accepted", tc.name, tc.phc)
		}
	}
}

func FuzzParsePHC(f *testing.F) {
	good, _ := HashPassword("x", fastParams)
	f.Add(good)
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := ParsePHC(s)
		if err != nil {
			return
		}
		if p.Memory > maxMemoryKiB || p.Time > maxTime || len(salt) > maxSaltLen || len(key) > maxKeyLen || p.Threads == 0 {
			t.Fatalf("ParsePHC(%q) accepted out-of-range %+v", s, p)
		}
	})
}

// BenchmarkHashPassword measures one argon2id hash (= one login) under
// OWASP's two recommended parameter sets.
func BenchmarkHashPassword(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    Params
	}{
		{"m=19MiB,t=2,p=1", DefaultParams},
		{"m=64MiB,t=3,p=4", Params{Memory: 64 * 1024, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := HashPassword("correct horse battery staple", bc.p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
