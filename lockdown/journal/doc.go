// Package journal is the lockdown undo journal: a write-ahead record of
// every change lockdown makes to the operating system, so that the change
// is undone at finish (Journal.Close), after a crash (the next Open finds
// the journal and undoes what it lists) and by `invigil reset` (Reset). A
// change is recorded, and synced to disk, before it is made; undoing a
// change that was never made must therefore be harmless.
//
// The file is JSON lines: a header naming the owning process (pid and start
// time, so a reused pid is not taken for the owner), then one "change" line
// per change and one "undone" line per change undone. Reset acts only on a
// journal this user's lockdown could have written (see Reset).
//
// Usage:
//
//	j, recovered, err := journal.Open(ctx, path, journal.Options{})
//	m, err := lockdown.NewMonitor(pol, lockdown.MonitorOptions{Sink: s, Journal: j})
//	...
//	m.Close()
//	j.Close(ctx) // undoes every change, removes the journal
package journal
