package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// Static is the dashboard's files, rooted at static/.
var Static, _ = fs.Sub(static, "static")

// pages maps a page's clean path to its HTML file.
// A page is routed only once its file exists (TestReferencesResolve).
var pages = map[string]string{
	"/":       "index.html",
	"/login":  "login.html",
	"/review": "review.html",
	"/exam":   "exam.html",
	"/live":   "live.html",
}

// CSP is the Content-Security-Policy every dashboard response carries.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; " +
	"worker-src 'self' blob:; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// Patterns are the ServeMux patterns Handler answers: each page's path and
// /assets/. (Not "GET /": it would conflict with the API's method-less
// prefix patterns.)
func Patterns() []string {
	out := []string{"GET /assets/"}
	for p := range pages {
		if p == "/" {
			p = "/{$}"
		}
		out = append(out, "GET "+p)
	}
	return out
}

// Handler serves the dashboard's pages and assets on Patterns.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		// Small files, served from memory: always revalidate so a new
		// invigild never runs with an old script cached in the browser.
		h.Set("Cache-Control", "no-cache")
		name, ok := pages[r.URL.Path]
		if !ok {
			p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
			if !strings.HasPrefix(p, "assets/") || strings.HasSuffix(p, ".html") {
				http.NotFound(w, r)
				return
			}
			name = strings.TrimPrefix(p, "assets/")
		}
		if _, err := fs.Stat(Static, name); err != nil {
			http.NotFound(w, r)
			return
		}
		http.ServeFileFS(w, r, Static, name)
	})
}
