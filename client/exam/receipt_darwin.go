//go:build darwin

package exam

import (
	"os"
	"path/filepath"
)

func documentsDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, "Documents")
}
