//go:build race

package transport

// poisonPooled: under the race detector (every test run), a buffer given
// back to the pool is overwritten, so code that keeps a stored frame's
// bytes past Store sees garbage and its test fails.
const poisonPooled = true
