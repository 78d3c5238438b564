package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Result()
}

func TestPagesAndAssets(t *testing.T) {
	for _, p := range []string{"/", "/login", "/assets/common.js", "/assets/app.css"} {
		res := get(t, p)
		if res.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, res.StatusCode)
		}
		if res.Header.Get("Content-Security-Policy") != CSP {
			t.Errorf("GET %s: no CSP", p)
		}
	}
	if ct := get(t, "/assets/common.js").Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("common.js served as %q", ct)
	}
	for _, p := range []string{"/nope", "/assets/missing.js", "/assets/../web.go", "/assets/index.html", "/static/common.js"} {
		if res := get(t, p); res.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
}

// Every page the handler names exists, and every file it references
// under /assets/ is embedded: a typo is a test failure, not a blank page.
func TestReferencesResolve(t *testing.T) {
	for path, name := range pages {
		if _, err := fs.Stat(Static, name); err != nil {
			// Pages not built yet must not be routed.
			t.Errorf("page %s: %v", path, err)
		}
	}
	ref := regexp.MustCompile(`(?:src|href)="/assets/([^"]+)"|from "\./([^"]+)"`)
	fs.WalkDir(Static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".html") || strings.HasSuffix(p, ".js")) {
			return err
		}
		f, _ := Static.Open(p)
		b, _ := io.ReadAll(f)
		f.Close()
		if strings.HasSuffix(p, ".html") && regexp.MustCompile(`<script(?:[^>]*)>\s*[^<\s]`).Match(b) {
			t.Errorf("%s: inline script (the CSP forbids it)", p)
		}
		for _, m := range ref.FindAllSubmatch(b, -1) {
			n := string(m[1]) + string(m[2])
			if _, err := fs.Stat(Static, n); err != nil {
				t.Errorf("%s references %s: %v", p, n, err)
			}
		}
		return nil
	})
}

func TestPatternsMount(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/dashboard/", http.NotFoundHandler()) // as the backend does
	for _, p := range Patterns() {
		mux.Handle(p, Handler())
	}
	for _, p := range []string{"/", "/login", "/assets/app.css"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 {
			t.Errorf("GET %s through the mux: %d", p, rec.Code)
		}
	}
}
