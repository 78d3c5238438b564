package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/invigil/invigil/backend"
	"github.com/invigil/invigil/backend/accounts"
)

func runUser(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	userStdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUserAddListAssign(t *testing.T) {
	dir := t.TempDir()
	const pw = "a long enough password\n"
	if code, out, errs := runUser(t, pw, "user", "add", "--data", dir, "--role", "administrator", "--name", "alice"); code != 0 || !strings.Contains(out, "created administrator alice") {
		t.Fatalf("user add: %d %q %q", code, out, errs)
	}
	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        int
		msg         string
	}{
		{"duplicate", pw, []string{"--role", "proctor", "--name", "ALICE"}, 1, "exists"},
		{"short password", "short\n", []string{"--role", "proctor", "--name", "bob"}, 1, "at least 12"},
		{"no password", "", []string{"--role", "proctor", "--name", "bob"}, 1, "no password"},
		{"password flag", pw, []string{"--role", "proctor", "--name", "bob", "--password", "x"}, 2, "not defined"},
		{"bad role", pw, []string{"--role", "root", "--name", "bob"}, 2, "unknown role"},
		{"no name", pw, []string{"--role", "proctor"}, 2, "required"},
		{"long password", strings.Repeat("x", 2000), []string{"--role", "proctor", "--name", "bob"}, 1, "longer than"},
	} {
		code, _, errs := runUser(t, tc.stdin, append([]string{"user", "add", "--data", dir}, tc.args...)...)
		if code != tc.want || !strings.Contains(errs, tc.msg) {
			t.Errorf("%s: exit %d %q; want %d and %q", tc.name, code, errs, tc.want, tc.msg)
		}
	}
	if code, _, errs := runUser(t, "another good password\r\n", "user", "add", "--data", dir, "--role", "proctor", "--name", "paul"); code != 0 {
		t.Fatalf("add proctor: %d %q", code, errs)
	}
	code, out, _ := runUser(t, "", "user", "list", "--data", dir)
	if code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "paul") || !strings.Contains(out, "proctor") || strings.Contains(out, "argon2") {
		t.Errorf("user list: %d\n%s", code, out)
	}
	b, err := backend.Open(backend.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e, err := b.CreateExam(context.Background(), backend.ExamSpec{Name: "Algebra"})
	if err != nil {
		t.Fatal(err)
	}
	acc := b.Accounts()
	// The password from stdin (CRLF stripped) logs in.
	if _, _, err := acc.Login(context.Background(), "paul", "another good password", "127.0.0.1:1"); err != nil {
		t.Errorf("login with the piped password: %v", err)
	}
	b.Close()
	if code, _, errs := runUser(t, "", "user", "assign", "--data", dir, "--name", "paul", "--exam", "e_nope"); code != 1 || !strings.Contains(errs, "no exam") {
		t.Errorf("assign unknown exam: %d %q", code, errs)
	}
	if code, out, errs := runUser(t, "", "user", "assign", "--data", dir, "--name", "paul", "--exam", e.ID); code != 0 || !strings.Contains(out, "assigned") {
		t.Errorf("assign: %d %q %q", code, out, errs)
	}
	b, err = backend.Open(backend.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	acc = b.Accounts()
	paul, _ := acc.UserByName(context.Background(), "paul")
	if ok, err := acc.CanAccessExam(context.Background(), paul, e.ID); !ok || err != nil {
		t.Errorf("paul after assign: CanAccessExam = %v, %v", ok, err)
	}
	entries, _ := acc.ListAudit(context.Background(), accounts.AuditQuery{Action: "user.add"})
	if len(entries) != 2 || entries[0].Actor != "cli" {
		t.Errorf("audit of user.add: %+v; want 2 by cli", entries)
	}
}

func TestUserPasswdDisable(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := runUser(t, "first password 1\n", "user", "add", "--data", dir, "--role", "proctor", "--name", "paul"); code != 0 {
		t.Fatalf("add: %d %q", code, errs)
	}
	login := func(pw string) error {
		t.Helper()
		b, err := backend.Open(backend.Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		_, _, err = b.Accounts().Login(context.Background(), "paul", pw, "127.0.0.1:1")
		return err
	}
	if code, _, errs := runUser(t, "second password 2\n", "user", "passwd", "--data", dir, "--name", "paul"); code != 0 {
		t.Fatalf("passwd: %d %q", code, errs)
	}
	if err := login("first password 1"); err == nil {
		t.Error("the old password still logs in")
	}
	if err := login("second password 2"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if code, _, errs := runUser(t, "", "user", "disable", "--data", dir, "--name", "paul"); code != 0 {
		t.Fatalf("disable: %d %q", code, errs)
	}
	if err := login("second password 2"); err == nil {
		t.Error("a disabled user logs in")
	}
	if code, out, _ := runUser(t, "", "user", "list", "--data", dir); !strings.Contains(out, "disabled") || code != 0 {
		t.Errorf("list after disable: %d\n%s", code, out)
	}
	if code, _, errs := runUser(t, "", "user", "enable", "--data", dir, "--name", "paul"); code != 0 {
		t.Fatalf("enable: %d %q", code, errs)
	}
	if err := login("second password 2"); err != nil {
		t.Errorf("re-enabled user: %v", err)
	}
	if code, _, errs := runUser(t, "", "user", "passwd", "--data", dir, "--name", "nobody"); code != 1 || !strings.Contains(errs, "no such user") {
		t.Errorf("passwd for an unknown user: %d %q", code, errs)
	}
}
