package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/invigil/invigil/backend"
	"github.com/invigil/invigil/backend/accounts"
)

// userStdin is where `user add` reads the password; tests replace it.
var userStdin io.Reader = os.Stdin

// cmdUser manages dashboard accounts:
//
//	invigild user add    --data DIR --role ROLE --name NAME   (password on stdin)
//	invigild user list   --data DIR [--json]
//	invigild user assign --data DIR --name NAME --exam ID [--remove]
//	invigild user passwd --data DIR --name NAME                (password on stdin; ends their logins)
//	invigild user disable|enable --data DIR --name NAME
//
// The password is never a flag (flags end up in shell history and in
// every user's `ps`): a terminal is prompted twice without echo; otherwise
// the first line of stdin is the password.
func cmdUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	subs := map[string]bool{"add": true, "list": true, "assign": true, "passwd": true, "disable": true, "enable": true}
	if len(args) == 0 || !subs[args[0]] {
		return usageError{errors.New("want 'user add', 'list', 'assign', 'passwd', 'disable' or 'enable'")}
	}
	sub := args[0]
	fs := newFlags("user "+sub, stderr)
	data := fs.String("data", "", "data directory")
	var name, role, exam *string
	var asJSON, remove *bool
	switch sub {
	case "add":
		name = fs.String("name", "", "user name (required)")
		role = fs.String("role", "", "administrator, proctor or reviewer (required)")
	case "list":
		asJSON = fs.Bool("json", false, "print JSON")
	case "assign":
		name = fs.String("name", "", "user name (required)")
		exam = fs.String("exam", "", "exam id (required; see 'invigild exam list')")
		remove = fs.Bool("remove", false, "remove the assignment instead")
	case "passwd", "disable", "enable":
		name = fs.String("name", "", "user name (required)")
	}
	var r accounts.Role
	b, err := openData(fs, args[1:], data, func() error {
		switch sub {
		case "add":
			if *name == "" || *role == "" {
				return usageError{errors.New("--name and --role are required")}
			}
			if !accounts.ValidName(*name) {
				return usageError{fmt.Errorf("--name %q: want 1-64 letters, digits, '.', '_', '@' or '-'", *name)}
			}
			var err error
			if r, err = accounts.ParseRole(*role); err != nil {
				return usageError{err}
			}
		case "assign":
			if *name == "" || *exam == "" {
				return usageError{errors.New("--name and --exam are required")}
			}
		case "passwd", "disable", "enable":
			if *name == "" {
				return usageError{errors.New("--name is required")}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer b.Close()
	acc := b.Accounts()
	switch sub {
	case "list":
		users, err := acc.ListUsers(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, users)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tSTATE")
		for _, u := range users {
			state := "active"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Name, u.Role, fmtTime(u.CreatedAt), state)
		}
		return tw.Flush()
	case "assign":
		u, err := acc.UserByName(ctx, *name)
		if err != nil {
			return fmt.Errorf("%s: %w", *name, err)
		}
		if *remove {
			if err := acc.Unassign(ctx, accounts.CLIActor, u.ID, *exam); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s is no longer assigned to exam %s\n", u.Name, *exam)
			return nil
		}
		exams, err := b.ListExams(ctx)
		if err != nil {
			return err
		}
		if !containsExam(exams, *exam) {
			return fmt.Errorf("no exam %s (see 'invigild exam list')", *exam)
		}
		if err := acc.Assign(ctx, accounts.CLIActor, u.ID, *exam); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s (%s) is assigned to exam %s\n", u.Name, u.Role, *exam)
		return nil
	case "disable", "enable":
		u, err := acc.UserByName(ctx, *name)
		if err != nil {
			return fmt.Errorf("%s: %w", *name, err)
		}
		if err := acc.SetDisabled(ctx, accounts.CLIActor, u.ID, sub == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is %sd\n", u.Name, sub)
		return nil
	case "passwd":
		u, err := acc.UserByName(ctx, *name)
		if err != nil {
			return fmt.Errorf("%s: %w", *name, err)
		}
		pw, err := readPassword(userStdin, stderr)
		if err != nil {
			return err
		}
		if err := acc.SetPassword(ctx, accounts.CLIActor, u.ID, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "changed the password of %s; their login sessions ended\n", u.Name)
		return nil
	}
	pw, err := readPassword(userStdin, stderr)
	if err != nil {
		return err
	}
	if err := accounts.ValidatePassword(pw); err != nil {
		return err
	}
	u, err := acc.AddUser(ctx, accounts.CLIActor, *name, r, pw)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s %s (%s)\n", u.Role, u.Name, u.ID)
	return nil
}

func containsExam(exams []backend.Exam, id string) bool {
	for _, e := range exams {
		if e.ID == id {
			return true
		}
	}
	return false
}

// readPassword reads a new password: from a terminal with two prompts
// and no echo, otherwise the first line of in.
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(prompt, "Password again: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if !bytes.Equal(p1, p2) {
			return "", errors.New("the passwords differ")
		}
		return string(p1), nil
	}
	line, err := bufio.NewReaderSize(io.LimitReader(in, accounts.MaxPasswordLen+2), accounts.MaxPasswordLen+2).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	if errors.Is(err, io.EOF) && len(line) == accounts.MaxPasswordLen+2 {
		return "", fmt.Errorf("password on stdin longer than %d bytes", accounts.MaxPasswordLen)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on stdin (pipe it in, or run in a terminal to be prompted)")
	}
	return pw, nil
}
