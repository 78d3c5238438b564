// Package client is the student's journey as a state machine (Flow): it
// takes a join link through the system check, consent, ID photo, room scan,
// exam and finish, and publishes what the screens show (client/ui renders
// it). The exam itself runs in client/exam, which the flow drives through
// its Env (RealEnv; client/flowtest fakes it); focus.go attributes focus
// losses during the exam. What is settled at launch, before a session
// (configuration, join links and server addresses, the single-instance
// socket, per-user folders), is package client/launch.
package client
