// Package lockdown enforces an exam policy on the student's machine: detectors
// for processes, displays, virtual machines, remote sessions and virtual
// cameras, the system check report, and the monitor that emits violations.
// It never imports Fyne or transport.
package lockdown
