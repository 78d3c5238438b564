//go:build race

package backend

// raceEnabled: the race detector maps terabytes of shadow memory, so tests
// that run under an address-space limit cannot apply it.
const raceEnabled = true
