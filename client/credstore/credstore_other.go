//go:build !linux && !windows && !darwin

package credstore

func open() (osStore, error) { return nil, ErrUnsupported }
