//go:build !invigil_uitest

package ui

import (
	"errors"
	"log/slog"
)

// TestDriverBuilt reports whether this build has the UI test driver: only
// builds with the tag invigil_uitest (the tests') do.
const TestDriverBuilt = false

// TestDriver is absent from this build.
type TestDriver struct{}

// StartTestDriver fails: this build has no test driver.
func StartTestDriver(*App, string, *slog.Logger) (*TestDriver, error) {
	return nil, errors.New("this build has no UI test driver (build with -tags invigil_uitest)")
}

// Close does nothing.
func (*TestDriver) Close() error { return nil }
