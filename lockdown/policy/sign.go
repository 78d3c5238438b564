package policy

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Signed is a policy as the backend hands it out in the join response: the
// policy document, and an Ed25519 signature over its RFC 8785 canonical form.
type Signed struct {
	Policy    json.RawMessage `json:"policy"`
	Signature string          `json:"signature"` // base64 (std, padded) of the 64-byte signature
	KeyID     string          `json:"key_id"`    // KeyID of the signing key, to help find the right pin
}

// ErrBadSignature reports a policy whose signature does not verify: it was
// changed after signing, or signed by another backend.
var ErrBadSignature = errors.New("policy signature does not verify")

// ConfigKey is the hex SHA-256 of the canonical form of policy JSON: the
// value the client sends in every hello so that the backend knows which policy
// it enforces (after Safe Exam Browser's Config Key).
func ConfigKey(policyJSON []byte) (string, error) {
	c, err := Canonical(policyJSON)
	if err != nil {
		return "", err
	}
	return configKey(c), nil
}

func configKey(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}

// Sign validates policyJSON and signs its canonical form with priv.
func Sign(priv ed25519.PrivateKey, policyJSON []byte) (*Signed, error) {
	if _, err := Parse(policyJSON); err != nil {
		return nil, err
	}
	c, err := Canonical(policyJSON)
	if err != nil {
		return nil, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	return &Signed{
		Policy:    json.RawMessage(c),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, c)),
		KeyID:     KeyID(pub),
	}, nil
}

// Verify checks the signature against pub and parses the policy. It returns
// the policy and its config key. A signature that does not verify gives an
// error wrapping ErrBadSignature.
func (s *Signed) Verify(pub ed25519.PublicKey) (*Policy, string, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, "", errors.New("verify policy: no valid public key")
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, "", fmt.Errorf("verify policy: malformed signature: %w", ErrBadSignature)
	}
	c, err := Canonical(s.Policy)
	if err != nil {
		return nil, "", fmt.Errorf("verify policy: %w", err)
	}
	if !ed25519.Verify(pub, c, sig) {
		if s.KeyID != "" && s.KeyID != KeyID(pub) {
			return nil, "", fmt.Errorf("verify policy: signed by key %s, expected %s: %w", s.KeyID, KeyID(pub), ErrBadSignature)
		}
		return nil, "", fmt.Errorf("verify policy: %w", ErrBadSignature)
	}
	p, err := Parse(c)
	if err != nil {
		return nil, "", err
	}
	return p, configKey(c), nil
}

// KeyID is a short, stable name for a public key: "ed25519:" and the first 8
// bytes of its SHA-256 in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(sum[:8])
}

// FormatPublicKey writes pub the way `invigild key` prints it and managed
// configs pin it: "ed25519:" followed by the key in base64.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads a key written by FormatPublicKey.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), "ed25519:")
	if !ok {
		return nil, errors.New(`public key: want "ed25519:<base64>"`)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("public key: not a base64 Ed25519 public key")
	}
	return ed25519.PublicKey(bytes.Clone(b)), nil
}
