//go:build !linux && !windows && !darwin

package launch

import "errors"

// managedConfigPath has no machine-wide default here: pass --config.
func managedConfigPath() (string, error) {
	return "", errors.New("no managed configuration path on this system; pass --config")
}
