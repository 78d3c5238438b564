package exambrowser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultDir is where the profile folders go by default: the user's cache
// folder, invigil/exam-browser (~/.cache/invigil/exam-browser on Linux,
// %LocalAppData%\invigil\exam-browser on Windows).
func DefaultDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("exam browser folder: %w", err)
	}
	return filepath.Join(d, "invigil", "exam-browser"), nil
}

// profilePrefix starts the name of every profile folder under the root;
// Cleanup touches nothing else.
const profilePrefix = "profile-"

// ownerFile is the state file in each profile folder.
const ownerFile = "owner.json"

// owner is owner.json: who runs the browser of a profile folder.
type owner struct {
	// ClientPID and ClientStarted (Unix ms) name the client process.
	ClientPID     int   `json:"client_pid"`
	ClientStarted int64 `json:"client_started_ms"`
	// BrowserPID is the browser's main process (0 until it runs).
	BrowserPID int       `json:"browser_pid,omitempty"`
	Created    time.Time `json:"created"`
}

// ensureRoot creates root with user-only permissions, or checks that an
// existing one is a directory that only its owner can write.
func ensureRoot(root string) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("exam browser folder: %w", err)
	}
	fi, err := os.Lstat(root)
	if err != nil {
		return fmt.Errorf("exam browser folder: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("exam browser folder %s is not a directory", root)
	}
	return checkPrivate(root, fi)
}

// newProfile makes a fresh profile folder under root and writes its
// owner.json. The browser's user data directory is its "data" folder.
func newProfile(root string) (dir string, err error) {
	dir, err = os.MkdirTemp(root, profilePrefix)
	if err != nil {
		return "", fmt.Errorf("exam browser profile: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", err
	}
	self, err := clientIdentity()
	if err != nil {
		return "", err
	}
	if err := writeOwner(dir, self); err != nil {
		return "", err
	}
	if err := writePrefs(dataDir(dir)); err != nil {
		return "", fmt.Errorf("exam browser profile: %w", err)
	}
	return dir, nil
}

func dataDir(profile string) string { return filepath.Join(profile, "data") }

func clientIdentity() (owner, error) {
	started, err := processStart(os.Getpid())
	if err != nil {
		return owner{}, fmt.Errorf("exam browser profile: %w", err)
	}
	return owner{ClientPID: os.Getpid(), ClientStarted: started, Created: time.Now().UTC()}, nil
}

func writeOwner(dir string, o owner) error {
	b, _ := json.MarshalIndent(o, "", "  ")
	tmp := filepath.Join(dir, ownerFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("exam browser state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, ownerFile)); err != nil {
		return fmt.Errorf("exam browser state: %w", err)
	}
	return nil
}

func readOwner(dir string) (owner, error) {
	var o owner
	f, err := os.Open(filepath.Join(dir, ownerFile))
	if err != nil {
		return o, err
	}
	defer f.Close()
	return decodeOwner(f)
}

// decodeOwner reads owner.json, which is a few hundred bytes: anything
// over 64 KiB is refused.
func decodeOwner(r io.Reader) (owner, error) {
	var o owner
	if err := json.NewDecoder(&limitedReader{r, 64 << 10}).Decode(&o); err != nil {
		return owner{}, fmt.Errorf("%s: %w", ownerFile, err)
	}
	return o, nil
}

type limitedReader struct {
	f io.Reader
	n int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("too long")
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= n
	return n, err
}

// writePrefs writes the preferences of a fresh profile: printing, the
// browser's own file dialogs, password saving, translation
// and the like off, every permission prompt answered no. (DevTools are not
// turned off here: devtools.availability 2 also refuses the client's own
// DevTools connection, "Not allowed"; a DevTools window is closed when it
// appears instead.)
func writePrefs(data string) error {
	if err := os.MkdirAll(filepath.Join(data, "Default"), 0o700); err != nil {
		return err
	}
	prefs := map[string]any{
		"printing":                   map[string]any{"enabled": false},
		"download_restrictions":      3,
		"download":                   map[string]any{"prompt_for_download": false},
		"credentials_enable_service": false,
		"profile": map[string]any{
			"password_manager_enabled": false,
			"default_content_setting_values": map[string]any{
				"notifications": 2, "geolocation": 2, "media_stream_camera": 2, "media_stream_mic": 2,
				"popups": 2, "automatic_downloads": 2, "clipboard": 2,
			},
		},
		"translate":    map[string]any{"enabled": false},
		"search":       map[string]any{"suggest_enabled": false},
		"safebrowsing": map[string]any{"enabled": false},
		"autofill":     map[string]any{"profile_enabled": false, "credit_card_enabled": false},
		"spellcheck":   map[string]any{"use_spelling_service": false},
		"browser":      map[string]any{"has_seen_welcome_page": true},
	}
	local := map[string]any{
		"select_file_dialogs": map[string]any{"allowed": false},
		"browser":             map[string]any{"enabled_labs_experiments": []string{}},
	}
	for name, v := range map[string]any{filepath.Join("Default", "Preferences"): prefs, "Local State": local} {
		b, _ := json.Marshal(v)
		if err := os.WriteFile(filepath.Join(data, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// CleanupOptions configure Cleanup.
type CleanupOptions struct {
	// Dir is the root of the profile folders (default DefaultDir).
	Dir string
	// Force also cleans up after a client that still runs.
	Force bool
}

// CleanupResult is what Cleanup did with one profile folder.
type CleanupResult struct {
	Dir string `json:"dir"`
	// ClientPID is the client that launched the browser, and ClientRunning
	// whether it still runs.
	ClientPID     int  `json:"client_pid,omitempty"`
	ClientRunning bool `json:"client_running,omitempty"`
	// Outcome is "removed", "in_use" (the client runs; nothing done) or
	// "failed".
	Outcome string `json:"outcome"`
	// Killed counts the browser processes that were ended.
	Killed int    `json:"killed,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Cleanup kills the browsers of profile folders whose client is gone and
// removes those folders. A folder whose client still runs is left alone
// unless opts.Force. A missing root is not an error.
func Cleanup(ctx context.Context, opts CleanupOptions) ([]CleanupResult, error) {
	root := opts.Dir
	if root == "" {
		var err error
		if root, err = DefaultDir(); err != nil {
			return nil, err
		}
	}
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("exam browser folder: %w", err)
	}
	var out []CleanupResult
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), profilePrefix) {
			continue
		}
		dir := filepath.Join(root, e.Name())
		r := CleanupResult{Dir: dir}
		o, oerr := readOwner(dir)
		if oerr == nil {
			r.ClientPID = o.ClientPID
			r.ClientRunning = sameProcess(o.ClientPID, o.ClientStarted)
		} else if fi, err := os.Stat(dir); err == nil && time.Since(fi.ModTime()) < time.Minute {
			// A folder being set up right now has no owner.json
			// for a moment.
			continue
		}
		if r.ClientRunning && !opts.Force {
			r.Outcome = "in_use"
			out = append(out, r)
			continue
		}
		n, err := stopProfile(ctx, dir)
		r.Killed = n
		if err != nil {
			r.Outcome, r.Error = "failed", err.Error()
		} else {
			r.Outcome = "removed"
		}
		out = append(out, r)
	}
	return out, nil
}

// stopProfile kills every process that uses the profile folder dir and
// removes it; it returns how many processes it killed.
func stopProfile(ctx context.Context, dir string) (int, error) {
	killed, err := killUsing(ctx, dataDir(dir))
	if err != nil {
		return killed, err
	}
	return killed, removeAll(ctx, dir)
}

// removeAll removes dir, retrying for a few seconds: a helper process of
// the browser can still write into it just after it was killed, and
// Windows refuses to delete files that are open.
func removeAll(ctx context.Context, dir string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.RemoveAll(dir)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("remove the exam browser profile: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
