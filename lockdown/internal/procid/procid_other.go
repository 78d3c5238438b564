//go:build !linux

package procid

import (
	"context"
	"slices"

	"github.com/shirou/gopsutil/v4/process"
)

// Identity returns the process's name and start time (milliseconds since
// the epoch) from gopsutil. A zombie counts as gone.
func Identity(pid int32) (string, int64, error) {
	ctx := context.Background()
	p, err := process.NewProcessWithContext(ctx, pid)
	if err != nil {
		return "", 0, err
	}
	if st, err := p.StatusWithContext(ctx); err == nil && slices.Contains(st, process.Zombie) {
		return "", 0, ErrGone
	}
	name, err := p.NameWithContext(ctx)
	if err != nil {
		return "", 0, err
	}
	create, err := p.CreateTimeWithContext(ctx)
	if err != nil {
		return "", 0, err
	}
	return name, create, nil
}
