// Package client holds the student's session: the state machine that takes a
// join link through system check, consent, ID photo, exam and finish, and the
// glue that carries lockdown violations and capture frames to transport.
package client
