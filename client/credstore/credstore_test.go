package credstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/invigil/invigil/internal/winetest"
)

func TestRoundTrip(t *testing.T) {
	dir := tempDir(t)
	name := fmt.Sprintf("test.%d.%d", os.Getpid(), time.Now().UnixNano())
	secret := []byte("tok_0123456789abcdef")
	kind, err := Put(dir, name, secret)
	if errors.Is(err, ErrUnsupported) {
		if Implemented && os.Getenv("INVIGIL_TEST_NO_CREDSTORE") != "1" {
			t.Fatalf("this OS has a credential store, but it refused: %v (INVIGIL_TEST_NO_CREDSTORE=1 where that is expected, such as keyctl blocked by a container)", err)
		}
		t.Skipf("no credential store on %s: %v", runtime.GOOS, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Delete(dir, kind, name) })
	got, err := Get(dir, kind, name)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Get = %q, %v; want %q", got, err, secret)
	}
	// Replacing keeps one secret.
	if _, err := Put(dir, name, []byte("second")); err != nil {
		t.Fatal(err)
	}
	if got, _ := Get(dir, kind, name); string(got) != "second" {
		t.Errorf("after a second Put: %q", got)
	}
	// Nothing of the secret in the directory in the clear.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(dir + "/" + e.Name())
		if bytes.Contains(b, []byte("second")) {
			t.Errorf("%s holds the secret in the clear", e.Name())
		}
	}
	if err := Delete(dir, kind, name); err != nil {
		t.Fatal(err)
	}
	if _, err := Get(dir, kind, name); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := Delete(dir, kind, name); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if _, err := Get(dir, "nonesuch", name); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get from another kind of store: %v", err)
	}
}

func TestNames(t *testing.T) {
	for _, n := range []string{"", "a/b", "../x", string(make([]byte, 200))} {
		if _, err := Put(tempDir(t), n, []byte("x")); err == nil {
			t.Errorf("Put accepted name %q", n)
		}
	}
}

// tempDir: these tests also run as a Windows binary under Wine.
func tempDir(t *testing.T) string { return winetest.TempDir(t, "credstore-test-") }
