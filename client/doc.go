// Package client holds the student's session: the state machine that takes a
// join link through system check, consent, ID photo, exam and finish, and the
// glue that carries lockdown violations and capture frames to transport.
// What is settled at launch, before a session (configuration, join links and
// server addresses, the single-instance socket, per-user folders), is
// package client/launch, which this package imports.
package client
