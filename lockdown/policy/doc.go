// Package policy is the exam policy: its schema and parser, RFC 8785 canonical
// JSON, the config key, and the Ed25519 signature the backend puts on it. It is
// pure data with no OS access, so the backend can import it to validate and
// sign policies without pulling in lockdown's detectors.
package policy
