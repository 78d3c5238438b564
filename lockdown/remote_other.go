//go:build !linux && !windows && !darwin

package lockdown

import "context"

func detectRemote(context.Context, envFunc, []procInfo) (remoteEvidence, error) {
	return remoteEvidence{}, ErrUnsupported
}
