// Package invigil is the root of Invigil, an open, self-hostable online
// proctoring system: the lockdown client (cmd/invigil), the reference backend
// (cmd/invigild) and the packages they are built from. See README.md and
// docs/. This package holds no code; its test keeps the dependency graph
// honest.
package invigil
