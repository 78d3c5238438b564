package lockdown

import (
	"fmt"
	"os"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xinerama"
)

// xineramaReader asks the X server's Xinerama extension for the screens,
// the same query kbinani/screenshot makes on Linux, over one connection it
// keeps: screenshot opens a new X connection for the count and another for
// each display's bounds, which at one poll a second cost ~1.2 % of a core on
// the test VM. A failed query drops the connection and the next read dials
// again; dialing is retried, since under Xvfb it fails now and then (EOF,
// EAGAIN).
type xineramaReader struct {
	conn *xgb.Conn
}

func newDisplayReader() displayReader { return &xineramaReader{} }

func (r *xineramaReader) close() {
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
}

func (r *xineramaReader) read() ([]Display, error) {
	display := os.Getenv("DISPLAY")
	if display == "" {
		r.close()
		return nil, errNoDisplay
	}
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 25 * time.Millisecond)
		}
		if r.conn == nil {
			c, err := xgb.NewConnDisplay(display)
			if err != nil {
				lastErr = err
				continue
			}
			if err := xinerama.Init(c); err != nil {
				c.Close()
				return nil, fmt.Errorf("X server on DISPLAY=%s has no Xinerama: %w", display, err)
			}
			r.conn = c
		}
		reply, err := xinerama.QueryScreens(r.conn).Reply()
		if err != nil {
			lastErr = err
			r.close()
			continue
		}
		if len(reply.ScreenInfo) == 0 {
			return nil, fmt.Errorf("X server on DISPLAY=%s reports no screens", display)
		}
		ds := make([]Display, len(reply.ScreenInfo))
		for i, s := range reply.ScreenInfo {
			ds[i] = Display{Index: i, X: int(s.XOrg), Y: int(s.YOrg), Width: int(s.Width), Height: int(s.Height)}
		}
		return ds, nil
	}
	return nil, fmt.Errorf("cannot reach the X server on DISPLAY=%s: %w", display, lastErr)
}
