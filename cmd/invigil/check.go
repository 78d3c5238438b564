package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/invigil/invigil/assets"
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/lockdown/policy"
)

func init() {
	commands["check"] = command{summary: "run the system check and say what to fix", run: runCheck}
}

// policyInfo says where the policy came from and whether its signature was
// verified.
type policyInfo struct {
	Name      string `json:"name,omitempty"`
	Source    string `json:"source"` // "default" or the file name
	ConfigKey string `json:"config_key"`
	Signed    bool   `json:"signed"`
	Verified  bool   `json:"verified"`
	KeyID     string `json:"key_id,omitempty"`
}

// loadPolicy reads a policy file: a bare policy document or a signed
// envelope ({"policy", "signature", "key_id"}). A signed policy is verified
// when pub is given; without a key it is used unverified and info says so.
// An empty path gives the shipped default policy.
func loadPolicy(path string, pub string) (*policy.Policy, policyInfo, error) {
	if path == "" {
		p, err := policy.Parse(assets.DefaultPolicy)
		if err != nil {
			return nil, policyInfo{}, err
		}
		key, _ := policy.ConfigKey(assets.DefaultPolicy)
		return p, policyInfo{Name: p.Name, Source: "default", ConfigKey: key}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, policyInfo{}, err
	}
	info := policyInfo{Source: path}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err == nil && probe["signature"] != nil && probe["policy"] != nil {
		var s policy.Signed
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return nil, info, fmt.Errorf("signed policy: %w", err)
		}
		info.Signed, info.KeyID = true, s.KeyID
		if pub == "" {
			p, err := policy.Parse(s.Policy)
			if err != nil {
				return nil, info, err
			}
			info.Name = p.Name
			info.ConfigKey, _ = policy.ConfigKey(s.Policy)
			return p, info, nil
		}
		k, err := policy.ParsePublicKey(pub)
		if err != nil {
			return nil, info, err
		}
		p, key, err := s.Verify(k)
		if err != nil {
			return nil, info, err
		}
		info.Name, info.ConfigKey, info.Verified = p.Name, key, true
		return p, info, nil
	}
	if pub != "" {
		return nil, info, fmt.Errorf("%s is not signed, but --key asks for a signed policy: %w", path, policy.ErrBadSignature)
	}
	p, err := policy.Parse(b)
	if err != nil {
		return nil, info, err
	}
	info.Name = p.Name
	info.ConfigKey, _ = policy.ConfigKey(b)
	return p, info, nil
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	policyPath := fs.String("policy", "", "policy file, bare or signed (default: the shipped default policy)")
	key := fs.String("key", "", `backend public key ("ed25519:<base64>") that must have signed the policy`)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: invigil check [--policy FILE [--key KEY]] [--json]")
		fmt.Fprintln(stderr, "Runs every lockdown check once, prints what to fix, and exits 6 if a check fails.")
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stderr); !ok {
		return code
	}
	p, info, err := loadPolicy(*policyPath, *key)
	if err != nil {
		if errors.Is(err, policy.ErrBadSignature) {
			fmt.Fprintf(stderr, "invigil check: policy %s refused: %v (it was changed after signing, or signed by another backend)\n", *policyPath, err)
		} else {
			fmt.Fprintf(stderr, "invigil check: policy %s: %v\n", *policyPath, err)
		}
		return exitBadPolicy
	}
	if info.Signed && !info.Verified {
		fmt.Fprintf(stderr, "invigil check: WARNING: policy %s is signed by %s but UNVERIFIED (no --key given)\n", info.Source, info.KeyID)
	}
	// The camera list (DirectShow on Windows, V4L2 on Linux) names a
	// virtual camera as the app's check does.
	r := lockdown.Check(ctx, p, lockdown.CheckOptions{Cameras: exam.LockdownCameras()})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			Policy policyInfo      `json:"policy"`
			Report lockdown.Report `json:"report"`
		}{info, r})
	} else {
		printReport(stdout, info, r)
	}
	if r.Failed() {
		return exitCheckFailed
	}
	return exitOK
}

var statusLabel = map[lockdown.Status]string{
	lockdown.StatusPass:    "PASS",
	lockdown.StatusWarn:    "WARN",
	lockdown.StatusFail:    "FAIL",
	lockdown.StatusUnknown: " ?? ",
}

func printReport(w io.Writer, info policyInfo, r lockdown.Report) {
	name := info.Name
	if name == "" {
		name = "(unnamed)"
	}
	verified := ""
	switch {
	case info.Verified:
		verified = ", signature verified (" + info.KeyID + ")"
	case info.Signed:
		verified = ", signature NOT verified"
	}
	fmt.Fprintf(w, "Policy: %s (%s%s)\nConfig key: %s\n\n", name, info.Source, verified, info.ConfigKey)
	for _, c := range r.Checks {
		fmt.Fprintf(w, "[%s] %s: %s\n", statusLabel[c.Status], c.Title, c.Summary)
		if c.Status == lockdown.StatusUnknown && c.Error != "" {
			fmt.Fprintf(w, "       could not tell: %s\n", c.Error)
		}
		for _, f := range c.Fixes {
			fmt.Fprintf(w, "       -> %s\n", f)
		}
	}
	fmt.Fprintln(w)
	switch r.Status {
	case lockdown.StatusFail:
		fmt.Fprintln(w, "Result: FAIL. Fix the items marked FAIL, then run the check again.")
	case lockdown.StatusPass:
		fmt.Fprintln(w, "Result: PASS.")
	default:
		fmt.Fprintf(w, "Result: %s. The exam can start; the proctor sees the notes above.\n", strings.ToUpper(string(r.Status)))
	}
}
