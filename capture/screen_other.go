//go:build !(linux && cgo) && !windows && !(darwin && cgo)

package capture

import (
	"context"
	"image"
)

func openScreenDevice(context.Context, screenTarget, float64) (rawSource, image.Rectangle, error) {
	return nil, image.Rectangle{}, ErrUnsupported
}
