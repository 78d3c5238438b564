package transport

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"
)

func sha256Chain(d [32]byte, frame []byte) [32]byte {
	return sha256.Sum256(append(d[:], frame...))
}

// testKeyVectors checks the document's key vectors: the key id, the config
// key and the policy signature of a fixed key and canonical policy.
func testKeyVectors(t *testing.T) {
	v := docVectors(t)
	seed, _ := hex.DecodeString(v["seed"])
	if len(seed) != ed25519.SeedSize {
		t.Fatalf("vector seed %q", v["seed"])
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	canonical := []byte(v["canonical"])
	sum := sha256.Sum256(pub)
	ck := sha256.Sum256(canonical)
	want := map[string]string{
		"server_key": "ed25519:" + base64.StdEncoding.EncodeToString(pub),
		"key_id":     "ed25519:" + hex.EncodeToString(sum[:8]),
		"config_key": hex.EncodeToString(ck[:]),
		"signature":  base64.StdEncoding.EncodeToString(ed25519.Sign(priv, canonical)),
	}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("docs/protocol.md vector %s = %q, want %q", k, v[k], w)
		}
	}
}
