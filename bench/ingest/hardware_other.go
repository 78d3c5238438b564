//go:build !linux

package main

import "errors"

func kernelCosts(string) (string, error) {
	return "", errors.New("measured on Linux only")
}
