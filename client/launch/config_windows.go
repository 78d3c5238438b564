package launch

import (
	"errors"
	"os"
	"path/filepath"
)

// managedConfigPath is %ProgramData%\Invigil\config.json on Windows.
func managedConfigPath() (string, error) {
	pd := os.Getenv("ProgramData")
	if pd == "" {
		return "", errors.New("ProgramData is not set")
	}
	return filepath.Join(pd, "Invigil", "config.json"), nil
}
