// Package launch settles what the client needs to know as it starts,
// before any session exists: the configuration (Load: the machine's
// managed file, a named file, the environment and the flags, with the
// machine file locking the keys it sets), this user's own spool and journal
// folders in the machine's shared ones (Config.PrepareDirs), the join link
// it was launched with and the server addresses it accepts (ParseJoinLink,
// ParseServerURL, ParseTypedServer), and the single-instance socket that
// hands a second launch's link to the running window (ClaimInstance).
//
// It is named for when it applies, the launch, rather than "setup", which
// in this project already means installing (packaging, scripts/setup.sh)
// and the system check. cmd/invigil and the flow in package client import
// it; it imports neither client, nor Fyne, nor capture (deps_test.go).
//
// Folders of earlier sessions next to the spool (client.CleanAside) are
// not here: they are made and read by the exam runtime's join, with its
// session file and credential store.
package launch
