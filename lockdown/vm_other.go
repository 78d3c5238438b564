//go:build !linux && !windows && !darwin

package lockdown

import "context"

func detectVM(context.Context) (vmEvidence, error) { return vmEvidence{}, ErrUnsupported }
