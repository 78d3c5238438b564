package exam

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/invigil/invigil/client/credstore"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

// Version is the client's version, reported in the join request.
var Version = "0.1.0"

// Error classes a caller (the UI, the headless run's exit code) branches on.
// Errors from Join wrap one of them as fmt.Errorf("%w: %w", class, cause):
// Cause takes the class off for a one-line message.
var (
	// ErrUnreachable: the backend could not be reached at all.
	ErrUnreachable = transport.ErrUnreachable
	// ErrJoinRefused: the backend answered but will not admit this client
	// (unknown code, exam closed or not open yet, session finished).
	ErrJoinRefused = errors.New("join refused")
	// ErrBadPolicy: the policy's signature or content does not verify.
	ErrBadPolicy = errors.New("exam policy refused")
)

// Cause is err without its class: the cause next to ErrUnreachable,
// ErrJoinRefused or ErrBadPolicy in the error that joins them ("backend
// unreachable: dial tcp ..." gives "dial tcp ..."), or err itself when it
// has no class.
func Cause(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		j, ok := e.(interface{ Unwrap() []error })
		if !ok {
			continue
		}
		if errs := j.Unwrap(); len(errs) == 2 && (errs[0] == ErrUnreachable || errs[0] == ErrJoinRefused || errs[0] == ErrBadPolicy) {
			return errs[1]
		}
		break
	}
	return err
}

// JoinOptions says where and how to join.
type JoinOptions struct {
	Server string // backend base URL, http(s)://host:port
	Code   string // join code
	// ServerKey is the pinned backend public key ("ed25519:..."), from the
	// managed configuration. Empty means unpinned: the key the backend sends
	// is used, and Joined.Unpinned says so.
	ServerKey string
	// SpoolDir holds the encrypted spool and the session file that lets a
	// restarted client resume. One session at a time per directory.
	SpoolDir string
	HTTP     *http.Client
	Log      *slog.Logger
	Now      func() time.Time
}

// Joined is a session the client has joined (or resumed) and whose policy
// it has verified.
type Joined struct {
	Resp      *transport.JoinResponse
	Policy    *policy.Policy
	ConfigKey string
	Unpinned  bool // the policy was verified with the key the backend sent, not a pinned one
	Resumed   bool // an earlier run's session, resumed from the spool directory
	// SetAside names spool files of an earlier session that could not be
	// resumed (its session file is gone, or its session is over) and were
	// moved aside undelivered; empty when there were none. Start reports them
	// to the proctor (a spool.set_aside event).
	SetAside *SetAside
	// Kept lists unfinished sessions of other exams whose spools wait on
	// this computer (in sibling directories) and resume, uploading their
	// recording, when their link or code is used again. Start tells the
	// proctor (a spool.other_session_kept event), the check screen the
	// student.
	Kept     []KeptSession
	Server   string
	SpoolDir string
}

// KeptSession is an unfinished session of another exam, kept whole (session
// file and spool) outside the spool directory until it is resumed.
type KeptSession struct {
	Dir        string // where its files are
	Server     string
	Code       string // its join code; empty for a session file from before codes were recorded
	Exam       string // the exam's name, as its backend gave it
	SessionID  string
	Segments   int  // spool segment files (recording not yet uploaded)
	SameServer bool // on the server of the session being joined
}

// SetAside is an earlier session's spool that was moved out of the way.
type SetAside struct {
	Dir      string // where the files are now
	Segments int    // spool segment files among them (undelivered recording)
	Why      string
}

// sessionFile is what the spool directory remembers of its session, so that
// a restarted client can resume it. The session token (which the backend
// only accepts until the session finishes) is kept in the OS credential
// store (package credstore) under TokenName, and only where there is none
// in the file itself (0600, with a warning). The spool key is never written
// on this computer: it stays with the backend, so the spool alone is
// unreadable.
type sessionFile struct {
	Server    string `json:"server"`
	SessionID string `json:"session_id"`
	// TokenStore is the credential store holding the token ("keyring",
	// "dpapi", "keychain"); empty when Token holds it.
	TokenStore string    `json:"token_store,omitempty"`
	Token      string    `json:"token,omitempty"`
	JoinedAt   time.Time `json:"joined_at"`
	// Code is the join code (upper-cased) and ExamID and Exam the exam it
	// opened: a session resumes only for the same server and code. Session
	// files from before they were recorded have none (see sameExam).
	Code   string `json:"code,omitempty"`
	ExamID string `json:"exam_id,omitempty"`
	Exam   string `json:"exam,omitempty"`
}

// sameExam reports whether the session of sf is the one opts asks for: the
// same server, and the same join code unless opts gives none (a restart
// with the server alone resumes what is there). A session file without a
// code (written by an older client) cannot show it is the same exam, so a
// code keeps it aside instead of resuming it.
func sameExam(sf *sessionFile, opts JoinOptions) bool {
	if sf.Server != opts.Server {
		return false
	}
	if opts.Code == "" {
		return true
	}
	return sf.Code != "" && sf.Code == transport.NormalizeJoinCode(opts.Code)
}

// tokenName is the token's name in the credential store.
func tokenName(sessionID string) string { return "session." + sessionID }

// credential store calls; variables so that tests can take the store away.
var (
	putCredential    = credstore.Put
	getCredential    = credstore.Get
	deleteCredential = credstore.Delete
)

// keepToken puts the session token in the credential store, or in the
// session file when this computer has none.
func keepToken(dir string, sf *sessionFile, token string, log *slog.Logger) {
	kind, err := putCredential(dir, tokenName(sf.SessionID), []byte(token))
	if err != nil {
		log.Warn("no OS credential store: the session token is kept in the session file (0600) next to the spool; anyone who can read this account's files can resume the session", "err", err)
		sf.Token = token
		return
	}
	sf.TokenStore = kind
}

// token returns the session token, from the credential store or the file.
func (sf *sessionFile) token(dir string) (string, error) {
	if sf.TokenStore == "" {
		return sf.Token, nil
	}
	b, err := getCredential(dir, sf.TokenStore, tokenName(sf.SessionID))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

const sessionFileName = "session.json"

// Join resumes the session recorded in opts.SpoolDir if there is one for
// the same server, and joins with opts.Code otherwise. It verifies the
// policy before returning.
func Join(ctx context.Context, opts JoinOptions) (*Joined, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	var pinned ed25519.PublicKey
	if opts.ServerKey != "" {
		k, err := policy.ParsePublicKey(opts.ServerKey)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadPolicy, fmt.Errorf("pinned server key: %w", err))
		}
		pinned = k
	}
	if err := os.MkdirAll(opts.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("spool directory: %w", err)
	}
	CleanAside(opts.SpoolDir, opts.Now(), opts.Log) // earlier sessions' folders that hold no recording

	resp, resumed, aside, err := resumeOrJoin(ctx, opts)
	if err != nil {
		return nil, err
	}
	j := &Joined{Resp: resp, Resumed: resumed, Server: opts.Server, SpoolDir: opts.SpoolDir, SetAside: aside,
		Kept: keptSessions(opts)}
	key := pinned
	if key == nil {
		j.Unpinned = true
		if key, err = policy.ParsePublicKey(resp.ServerKey); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadPolicy, errors.New("the backend sent no usable public key"))
		}
	}
	var signed policy.Signed
	if err := json.Unmarshal(resp.Policy, &signed); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPolicy, fmt.Errorf("malformed policy envelope: %w", err))
	}
	p, ck, err := signed.Verify(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPolicy, err)
	}
	j.Policy, j.ConfigKey = p, ck
	if !resumed {
		sf := sessionFile{Server: opts.Server, SessionID: resp.SessionID, JoinedAt: opts.Now().UTC(),
			Code: transport.NormalizeJoinCode(opts.Code), ExamID: resp.Exam.ID, Exam: resp.Exam.Name}
		keepToken(opts.SpoolDir, &sf, resp.Token, opts.Log)
		if err := writeSessionFile(opts.SpoolDir, sf); err != nil {
			return nil, err
		}
	}
	return j, nil
}

func resumeOrJoin(ctx context.Context, opts JoinOptions) (*transport.JoinResponse, bool, *SetAside, error) {
	sf, err := readSessionFile(opts.SpoolDir)
	if err != nil {
		return nil, false, nil, err
	}
	if sf != nil && !sameExam(sf, opts) {
		// An unfinished session of another exam: never resume it into
		// this one, never delete it. It waits whole in a sibling directory
		// until its own link or code comes again.
		if err := keepSession(opts.SpoolDir, sf, opts.Now(), opts.Log); err != nil {
			return nil, false, nil, err
		}
		sf = nil
	}
	var aside *SetAside
	if sf == nil && hasSegments(opts.SpoolDir) {
		// Recording without a session file (deleted or lost): it cannot be
		// resumed, and a new session must not upload it as its own.
		if aside, err = retireSpool(opts.SpoolDir, opts.Now(), opts.Log, errors.New("the session file is missing")); err != nil {
			return nil, false, nil, err
		}
	}
	if sf == nil {
		// A kept session of the exam asked for comes back into the spool
		// and resumes (or, if it is over, is set aside as usual).
		if sf, err = restoreKept(opts); err != nil {
			return nil, false, nil, err
		}
	}
	var token string
	if sf != nil {
		if token, err = sf.token(opts.SpoolDir); err != nil {
			// The credential store lost it (the Linux keyring does at a
			// reboot): the session cannot be resumed.
			opts.Log.Warn("the session token is gone from the credential store", "store", sf.TokenStore, "err", err)
			if aside, err = retireSpoolMore(aside, opts, fmt.Errorf("the session token is gone from the %s credential store (after a reboot?)", sf.TokenStore)); err != nil {
				return nil, false, nil, err
			}
			sf = nil
		}
	}
	if sf != nil {
		resp, err := transport.Resume(ctx, opts.HTTP, opts.Server, token)
		switch {
		case err == nil:
			if resp.SessionID != sf.SessionID {
				return nil, false, nil, fmt.Errorf("resume answered for session %s, not %s", resp.SessionID, sf.SessionID)
			}
			opts.Log.Info("resuming session", "session", resp.SessionID)
			return resp, true, aside, nil
		case errors.Is(err, transport.ErrSessionFinished), errors.Is(err, transport.ErrUnauthorized):
			// The earlier session is over (or unknown to this backend):
			// anything left in its spool cannot be delivered any more.
			if aside, err = retireSpoolMore(aside, opts, err); err != nil {
				return nil, false, nil, err
			}
			forgetToken(opts.SpoolDir, sf)
		default:
			return nil, false, nil, classify(err)
		}
	}
	resp, err := transport.Join(ctx, opts.HTTP, opts.Server, transport.JoinRequest{
		Code:   opts.Code,
		Client: transport.ClientInfo{App: "invigil", Version: Version, OS: runtime.GOOS, Arch: runtime.GOARCH},
	})
	if err != nil {
		return nil, false, nil, classify(err)
	}
	return resp, false, aside, nil
}

// retireSpoolMore retires the spool directory when an earlier retirement
// (prev) may already have happened in this join: the first report that
// names segments is kept.
func retireSpoolMore(prev *SetAside, opts JoinOptions, why error) (*SetAside, error) {
	a, err := retireSpool(opts.SpoolDir, opts.Now(), opts.Log, why)
	if err != nil || prev == nil {
		return a, err
	}
	if a != nil {
		prev.Segments += a.Segments
		prev.Why += "; " + a.Why + " (moved to " + a.Dir + ")"
	}
	return prev, nil
}

// hasSegments reports whether dir holds spool segment files.
func hasSegments(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	return len(m) > 0
}

// classify wraps a join error in the class a caller branches on.
func classify(err error) error {
	var re *transport.RemoteError
	switch {
	case errors.Is(err, transport.ErrUnreachable):
		return err
	case errors.As(err, &re) && (re.Code == transport.CodeInternal || re.Code == transport.CodeUnavailable):
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	case errors.As(err, &re):
		return fmt.Errorf("%w: %w", ErrJoinRefused, err)
	}
	return err
}

// HasSession reports whether the spool directory dir holds a session that
// a later run resumes.
func HasSession(dir string) bool {
	sf, err := readSessionFile(dir)
	return err == nil && sf != nil
}

func readSessionFile(dir string) (*sessionFile, error) {
	b, err := os.ReadFile(filepath.Join(dir, sessionFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read session file: %w", err)
	}
	var sf sessionFile
	if err := json.Unmarshal(b, &sf); err != nil || sf.SessionID == "" || (sf.Token == "" && sf.TokenStore == "") {
		return nil, fmt.Errorf("session file %s is damaged; move the directory away to start afresh", filepath.Join(dir, sessionFileName))
	}
	return &sf, nil
}

func writeSessionFile(dir string, sf sessionFile) error {
	b, _ := json.MarshalIndent(sf, "", "  ")
	path := filepath.Join(dir, sessionFileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write session file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write session file: %w", err)
	}
	return nil
}

// retireSpool moves the files of a session that can no longer upload out of
// the way (into a sibling directory), so a new session starts clean and
// nothing is deleted silently.
func retireSpool(dir string, now time.Time, log *slog.Logger, why error) (*SetAside, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, nil
	}
	aside := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".retired-"+now.UTC().Format("20060102T150405"))
	for n := 2; ; n++ {
		// A fresh directory: never mix two retired spools.
		if err := os.Mkdir(aside, 0o700); err == nil {
			break
		} else if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		aside = filepath.Join(filepath.Dir(dir), fmt.Sprintf("%s.retired-%s-%d", filepath.Base(dir), now.UTC().Format("20060102T150405"), n))
	}
	segs := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".seg") {
			segs++
		}
		if err := os.Rename(filepath.Join(dir, e.Name()), filepath.Join(aside, e.Name())); err != nil {
			return nil, fmt.Errorf("move old spool aside: %w", err)
		}
	}
	log.Warn("earlier session's spool moved aside", "to", aside, "why", why, "segments", segs)
	if segs == 0 {
		return nil, nil
	}
	return &SetAside{Dir: aside, Segments: segs, Why: why.Error()}, nil
}

// forgetToken deletes a session's token from the credential store.
func forgetToken(dir string, sf *sessionFile) {
	if sf != nil && sf.TokenStore != "" {
		deleteCredential(dir, sf.TokenStore, tokenName(sf.SessionID))
	}
}

// ForgetSession removes the session file, and the token from the credential
// store, once a session is finished and its spool wiped.
func ForgetSession(dir string) error {
	if sf, err := readSessionFile(dir); err == nil && sf != nil && sf.TokenStore != "" {
		if err := deleteCredential(dir, sf.TokenStore, tokenName(sf.SessionID)); err != nil {
			return err
		}
	}
	err := os.Remove(filepath.Join(dir, sessionFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// keptPrefix names the sibling directories of kept sessions:
// <spool>.kept-<session id>.
const keptPrefix = ".kept-"

// keepSession moves every file of the spool directory (session file,
// segments, a sealed token) into a sibling directory of its own.
func keepSession(dir string, sf *sessionFile, now time.Time, log *slog.Logger) error {
	id := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return -1
	}, sf.SessionID)
	to := dir + keptPrefix + id
	if _, err := os.Lstat(to); err == nil || id == "" {
		to += "-" + now.UTC().Format("20060102T150405.000000000")
	}
	if err := moveEntries(dir, to); err != nil {
		return fmt.Errorf("keep the unfinished session %s: %w", sf.SessionID, err)
	}
	log.Warn("unfinished session of another exam kept for later upload", "session", sf.SessionID, "exam", sf.Exam, "server", sf.Server, "to", to)
	return nil
}

// moveEntries moves the entries of from into to (created 0700).
func moveEntries(from, to string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// keptDirs returns the kept sessions' directories next to the spool with
// their session files, oldest name first; unreadable ones are skipped.
func keptDirs(spool string) ([]string, []*sessionFile) {
	// ReadDir, not Glob: the spool's path may hold glob characters.
	entries, _ := os.ReadDir(filepath.Dir(spool))
	var dirs []string
	var sfs []*sessionFile
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), filepath.Base(spool)+keptPrefix) {
			continue
		}
		d := filepath.Join(filepath.Dir(spool), e.Name())
		if sf, err := readSessionFile(d); err == nil && sf != nil {
			dirs, sfs = append(dirs, d), append(sfs, sf)
		}
	}
	return dirs, sfs
}

// restoreKept moves a kept session of the exam opts asks for back into
// the spool directory and returns its session file; nil when there is none.
func restoreKept(opts JoinOptions) (*sessionFile, error) {
	dirs, sfs := keptDirs(opts.SpoolDir)
	for i, sf := range sfs {
		if !sameExam(sf, opts) {
			continue
		}
		if err := moveEntries(dirs[i], opts.SpoolDir); err != nil {
			return nil, fmt.Errorf("bring back the kept session %s: %w", sf.SessionID, err)
		}
		if err := os.Remove(dirs[i]); err != nil {
			opts.Log.Warn("could not remove the emptied kept-session directory", "dir", dirs[i], "err", err)
		}
		opts.Log.Info("kept session of this exam brought back to resume", "session", sf.SessionID)
		return sf, nil
	}
	return nil, nil
}

// keptSessions lists the kept sessions waiting next to the spool.
func keptSessions(opts JoinOptions) []KeptSession {
	dirs, sfs := keptDirs(opts.SpoolDir)
	var ks []KeptSession
	for i, sf := range sfs {
		segs := 0
		if entries, err := os.ReadDir(dirs[i]); err == nil {
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".seg") {
					segs++
				}
			}
		}
		ks = append(ks, KeptSession{Dir: dirs[i], Server: sf.Server, Code: sf.Code, Exam: sf.Exam, SessionID: sf.SessionID,
			Segments: segs, SameServer: sf.Server == opts.Server})
	}
	return ks
}
