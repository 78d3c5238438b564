//go:build !windows && !darwin

package exam

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// documentsDir asks xdg-user-dir (xdg-user-dirs) for the documents
// folder; it answers the home folder when none is set, which is left to
// DocumentsDir's fallbacks.
func documentsDir() string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "xdg-user-dir", "DOCUMENTS").Output()
	if err != nil {
		return ""
	}
	d := strings.TrimSpace(string(out))
	home, _ := os.UserHomeDir()
	if d == "" || !filepath.IsAbs(d) || filepath.Clean(d) == filepath.Clean(home) {
		return ""
	}
	return d
}
