package transport

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// refusingStore refuses to store, as the backend does once a session's
// token expired or its exam closed while the connection was open.
type refusingStore struct {
	*memStore
	err error
}

func (s *refusingStore) Store(context.Context, []Frame) error { return s.err }

// A refusal of the session's own closes with its code, so that the client
// stops at once instead of taking it for a failure to store (4500) and
// reconnecting (docs/protocol.md section 2.7, 4410 and 4411).
func TestStoreRefusalClosesWithItsCode(t *testing.T) {
	for _, tc := range []struct {
		err   error
		code  string
		close int
	}{
		{&RemoteError{Code: CodeExamClosed, Message: "the exam closed"}, CodeExamClosed, 4411},
		{&RemoteError{Code: CodeSessionFinished, Message: "ended"}, CodeSessionFinished, 4410},
		{&RemoteError{Code: "no_such_code", Message: "?"}, CodeInternal, 4500},
		{context.DeadlineExceeded, CodeInternal, 4500},
	} {
		store := &refusingStore{memStore: newMemStore(), err: tc.err}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := Upgrade(w, r)
			if err != nil {
				return
			}
			ServeConn(r.Context(), conn, store, fastOpts)
		}))
		d := websocket.Dialer{Subprotocols: []string{Subprotocol}}
		conn, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &rawClient{t: t, conn: conn, msgs: make(chan rawMsg, 64)}
		c.hello(1)
		c.send(websocket.BinaryMessage, hbFrame(1, "message 1"))
		c.wantClose(3*time.Second, tc.code, tc.close)
		conn.Close()
		srv.Close()
	}
}
