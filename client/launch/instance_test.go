package launch

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestInstanceHandOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "i.sock")
	first, err := ClaimInstance(path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	link := "invigil://join?server=https://e.edu&code=X"
	if _, err := ClaimInstance(path, link, nil); !errors.Is(err, ErrOtherInstance) {
		t.Fatalf("second claim: %v, want ErrOtherInstance", err)
	}
	select {
	case got := <-first.Links():
		if got != link {
			t.Fatalf("handed over %q, want %q", got, link)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no link handed over")
	}
	// A launch without a link brings the window forward.
	if _, err := ClaimInstance(path, "", nil); !errors.Is(err, ErrOtherInstance) {
		t.Fatalf("third claim: %v", err)
	}
	if got := <-first.Links(); got != "" {
		t.Fatalf("handed over %q, want empty", got)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, ok := <-first.Links(); ok {
		t.Fatal("Links not closed after Close")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func TestInstanceStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "i.sock")
	// A socket file nobody listens on, as a crashed instance leaves it.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket not left: %v", err)
	}
	in, err := ClaimInstance(path, "", nil)
	if err != nil {
		t.Fatalf("claim over a stale socket: %v", err)
	}
	in.Close()
}

func TestInstanceIgnoresGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "i.sock")
	in, err := ClaimInstance(path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	buf := make([]byte, 8)
	n, _ := c.Read(buf)
	c.Close()
	if n != 0 {
		t.Fatalf("answered %q to garbage", buf[:n])
	}
	select {
	case l := <-in.Links():
		t.Fatalf("garbage delivered as link %q", l)
	case <-time.After(100 * time.Millisecond):
	}
}
