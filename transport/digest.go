package transport

import "crypto/sha256"

// Chain is one step of the session digest (docs/protocol.md section 5):
// SHA-256(prev || frame), over the complete binary frame (header and
// payload). The digest of no messages is 32 zero bytes. The client's spool
// and the backend both compute it with this function.
func Chain(prev [32]byte, frame []byte) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(frame)
	var out [32]byte
	h.Sum(out[:0])
	return out
}
