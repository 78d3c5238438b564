package exambrowser

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// ErrNoBrowser reports that none of the browsers the exam browser can use
// is installed.
var ErrNoBrowser = errors.New("no Chromium, Chrome or Edge is installed")

// Find returns the browser Launch uses: the first installed of Candidates.
func Find() (string, error) {
	return find(runtime.GOOS, os.Getenv, isFile, exec.LookPath)
}

// Candidates lists where Find looks on goos, in order: Chromium, then
// Chrome, then Edge (on Windows, where Edge is always installed, Chrome
// and Chromium first, so that a school's choice of Chrome wins). Names
// without a path separator are looked up in PATH; the others are paths.
func Candidates(goos string, getenv func(string) string) []string {
	switch goos {
	case "windows":
		var out []string
		roots := []string{getenv("ProgramFiles"), getenv("ProgramFiles(x86)"), getenv("LocalAppData")}
		for _, rel := range []string{
			`Google\Chrome\Application\chrome.exe`,
			`Chromium\Application\chrome.exe`,
			`Microsoft\Edge\Application\msedge.exe`,
		} {
			for _, r := range roots {
				if r != "" {
					out = append(out, r+`\`+rel)
				}
			}
		}
		return out
	case "darwin":
		var out []string
		for _, app := range []string{
			"Chromium.app/Contents/MacOS/Chromium",
			"Google Chrome.app/Contents/MacOS/Google Chrome",
			"Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
		} {
			out = append(out, "/Applications/"+app)
			if home := getenv("HOME"); home != "" {
				out = append(out, home+"/Applications/"+app)
			}
		}
		return out
	default:
		return []string{
			"/usr/bin/chromium", "chromium", "chromium-browser", "/snap/bin/chromium",
			"google-chrome-stable", "google-chrome", "/opt/google/chrome/chrome",
			"microsoft-edge-stable", "microsoft-edge", "/opt/microsoft/msedge/msedge",
		}
	}
}

func find(goos string, getenv func(string) string, exists func(string) bool, lookPath func(string) (string, error)) (string, error) {
	for _, c := range Candidates(goos, getenv) {
		if !hasSeparator(c) {
			if p, err := lookPath(c); err == nil {
				return p, nil
			}
			continue
		}
		if exists(c) {
			return c, nil
		}
	}
	return "", ErrNoBrowser
}

func hasSeparator(s string) bool {
	for _, c := range s {
		if c == '/' || c == '\\' {
			return true
		}
	}
	return false
}

func isFile(p string) bool {
	fi, err := os.Stat(filepath.Clean(p))
	return err == nil && !fi.IsDir()
}
