package exam

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testRecord() ReceiptRecord {
	return ReceiptRecord{Exam: "Physics: midterm / A", SessionID: "s_3f1c9a0b7d",
		StartedAt:  time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC),
		FinishedAt: time.Date(2026, 12, 5, 10, 30, 0, 0, time.UTC),
		Messages:   1234, ThisRun: map[string]int{"camera": 1000, "events": 1}, Bytes: 5 << 20,
		Digest: strings.Repeat("ab12cd34", 8), DigestMatch: true}
}

func TestSaveReceipt(t *testing.T) {
	dir := t.TempDir()
	r := testRecord()
	files, err := SaveReceipt(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	stamp := r.FinishedAt.Local().Format("2006-01-02 15-04")
	if want := filepath.Join(dir, "Invigil receipt - Physics midterm A - "+stamp+".txt"); files.Text != want {
		t.Fatalf("text file %q, want %q", files.Text, want)
	}
	txt, err := os.ReadFile(files.Text)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Physics: midterm / A", "s_3f1c9a0b7d", r.Digest, "Started:", "Finished:", "1234 in the whole session", "computed the same receipt code"} {
		if !strings.Contains(string(txt), want) {
			t.Errorf("text receipt lacks %q:\n%s", want, txt)
		}
	}
	b, err := os.ReadFile(files.JSON)
	if err != nil {
		t.Fatal(err)
	}
	var got ReceiptRecord
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Digest != r.Digest || got.Exam != r.Exam || !got.StartedAt.Equal(r.StartedAt) || got.Messages != r.Messages || got.ThisRun["camera"] != 1000 {
		t.Fatalf("JSON receipt %+v, want %+v", got, r)
	}
	// A second receipt of the same minute never overwrites the first.
	again, err := SaveReceipt(dir, r)
	if err != nil || again.Text == files.Text || !strings.HasSuffix(again.Text, " (2).txt") {
		t.Fatalf("second save %+v, %v", again, err)
	}
	if b2, _ := os.ReadFile(files.Text); string(b2) != string(txt) {
		t.Fatal("the first receipt changed")
	}
}

func TestFileNamePart(t *testing.T) {
	for in, want := range map[string]string{
		"Physics midterm":          "Physics midterm",
		`a/b\c:d*e?f"g<h>i|j`:      "a b c d e f g h i j",
		"../../etc":                "etc",
		"tab\tand\nnewline":        "tab and newline",
		"":                         "",
		strings.Repeat("x", 80):    strings.Repeat("x", 60),
		"trailing dots...":         "trailing dots",
		"Prüfung Mathematik Ä/Ö ü": "Prüfung Mathematik Ä Ö ü",
	} {
		if got := fileNamePart(in); got != want {
			t.Errorf("fileNamePart(%q) = %q, want %q", in, got, want)
		}
	}
}
