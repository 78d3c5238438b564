package transport

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// The golden files are examples of docs/protocol.md's messages; the
// document is the contract, and these follow it.
func TestControlGolden(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 12, 3, 100000000, time.UTC)
	msgs := map[string]Control{
		"hello":       {Type: TypeHello, Protocol: 1, SessionID: "s_0123456789abcdef", ConfigKey: strings.Repeat("9f", 32), NextSeq: 1, Client: &ClientInfo{App: "invigil", Version: "0.1.0", OS: "linux", Arch: "amd64"}},
		"welcome":     {Type: TypeWelcome, SessionID: "s_0123456789abcdef", LastAck: 41, State: StateActive, HeartbeatMS: 10000},
		"ack":         {Type: TypeAck, Seq: 57},
		"command":     {Type: TypeCommand, ID: "c_12", Command: CommandWarn, Text: "Please face the camera.", At: at},
		"command_ack": {Type: TypeCommandAck, ID: "c_12"},
		"finish":      {Type: TypeFinish, LastSeq: 912},
		"finished":    {Type: TypeFinished, LastSeq: 912, Digest: strings.Repeat("ab", 32)},
		"error":       {Type: TypeError, Code: CodeConfigKeyMismatch, Message: "this client enforces another policy than the exam's"},
		// A fresh session's welcome and an empty session's finished name
		// their zeros.
		"welcome_fresh":  {Type: TypeWelcome, SessionID: "s_0123456789abcdef", State: StateActive, HeartbeatMS: 10000},
		"finished_empty": {Type: TypeFinished, Digest: strings.Repeat("00", 32)},
	}
	for name, m := range msgs {
		got, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "control", name+".json")
		if *update {
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if strings.TrimSpace(string(want)) != string(got) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
		back, err := ParseControl(want)
		if err != nil {
			t.Errorf("%s: ParseControl: %v", name, err)
		} else if back.Type != m.Type {
			t.Errorf("%s: type %q", name, back.Type)
		}
	}
}

func TestParseControlRejects(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `{}`, `{"type":"bogus"}`, `{"type":"ack"}`, `{"type":"hello","protocol":1,"session_id":"s"}`,
		`{"type":"command","id":"c1","command":"format-disk"}`, `{"type":"ack","seq":1} {}`, `{"type":"ack","seq":-1}`,
		`{"type":"error"}`, `{"type":"welcome","session_id":"s","state":"sleeping"}`,
	} {
		if _, err := ParseControl([]byte(in)); !errors.Is(err, ErrBadControl) {
			t.Errorf("ParseControl(%s): err = %v, want ErrBadControl", in, err)
		}
	}
	if _, err := ParseControl(make([]byte, MaxControlBytes+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized: err = %v", err)
	}
}

func TestRemoteErrorMapping(t *testing.T) {
	for code, want := range map[string]error{
		CodeUnauthorized: ErrUnauthorized, CodeUnknownCode: ErrUnknownCode, CodeExamNotOpen: ErrExamNotOpen,
		CodeConfigKeyMismatch: ErrConfigKeyMismatch, CodeSessionFinished: ErrSessionFinished,
	} {
		var err error = &RemoteError{Code: code}
		if !errors.Is(err, want) {
			t.Errorf("%s does not map to %v", code, want)
		}
	}
	for code, cc := range closeCodes {
		if code == CodeBadRequest {
			continue
		}
		if got := codeForCloseCode(cc); got != code {
			t.Errorf("codeForCloseCode(%d) = %q, want %q", cc, got, code)
		}
	}
}

func FuzzParseControl(f *testing.F) {
	f.Add([]byte(`{"type":"ack","seq":5}`))
	f.Add([]byte(`{"type":"command","id":"c_1","command":"warn","text":"hi","at":"2026-11-26T10:00:00Z"}`))
	f.Add([]byte(`{"type":"hello","protocol":1,"session_id":"s","config_key":"` + strings.Repeat("0", 64) + `","next_seq":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseControl(b)
		if err != nil {
			return
		}
		// A parsed message survives a marshal round trip with its meaning.
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		c2, err := ParseControl(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		// Marshal writes the fields of the type only: a second round trip
		// changes nothing.
		out2, _ := json.Marshal(c2)
		if c2.Type != c.Type || string(out2) != string(out) {
			t.Fatalf("round trip changed %s into %s", out, out2)
		}
	})
}

// TestAppendAck checks the writer's hand-made ack against what
// encoding/json makes of the ack's fields, seq 0 included.
func TestAppendAck(t *testing.T) {
	for _, seq := range []uint64{0, 1, 57, 1<<53 + 1, ^uint64(0)} {
		want, _ := json.Marshal(struct {
			Type string `json:"type"`
			Seq  uint64 `json:"seq"`
		}{TypeAck, seq})
		if got := appendAck([]byte("x"), seq); string(got) != "x"+string(want) {
			t.Errorf("seq %d: %s, want x%s", seq, got, want)
		}
		if got, _ := json.Marshal(Control{Type: TypeAck, Seq: seq}); string(got) != string(want) {
			t.Errorf("seq %d: json.Marshal gives %s, want %s", seq, got, want)
		}
	}
}
