//go:build invigil_uitest

package ui

import (
	"bufio"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDriverCloseWakesWait: closing the test driver ends a wait in
// progress at once instead of after its timeout.
func TestDriverCloseWakesWait(t *testing.T) {
	a, _ := newTestApp(t)
	dir, err := os.MkdirTemp("", "uidrv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "d.sock")
	d, err := StartTestDriver(a, path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := c.Write([]byte(`{"op":"state"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(`{"op":"wait","screen":"nowhere","timeout_ms":30000}` + "\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the wait starts
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waits for the pending wait's timeout")
	}
	if rep := d.wait(DriverRequest{Op: "wait", Screen: "nowhere"}); rep.OK || rep.Error != "driver closed" {
		t.Fatalf("wait after Close: %+v", rep)
	}
	d.Close() // a second Close must not panic (done is closed once)
}
