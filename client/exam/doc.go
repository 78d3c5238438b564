// Package exam is the exam runtime on the student's computer, without
// screens: joining or resuming a session (Join), the session's spool and
// upload (Session), the running exam with its capture, lockdown monitor and
// exam browser (Exam, Media), and the receipt. Begin is the one exam
// runner: the sequence that starts an exam after consent, used by the
// desktop flow (package client, through its Env) and by
// `invigil run --headless` alike; each adds only the person's side (the
// screens, or the console).
//
// It is its own package, below client, so that the flow and the runtime
// each read in one sitting and the headless run needs no flow: exam never
// imports client, client/ui or Fyne (deps_test.go). The name says what it
// runs; "session" would have named only one of its parts. Focus
// attribution (client/focus.go) stays with the flow: it decides from the
// flow's state what a focus change means and tells the Exam's monitor.
// The folders of earlier sessions next to the spool (spool_aside.go) live
// here with Join, which reads and moves them.
package exam
