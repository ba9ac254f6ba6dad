// Package harness is what smsq's whole-system runs (package chaos and
// package proof, and their commands) share: a workspace with freshly built
// binaries, child processes with their own logs, private redis-server and
// redis-sentinel processes, the worker and scheduler fleet, the provider
// sandbox on a loopback port, the SMSQ_* settings and driver connection,
// and the table of figures a run prints.
//
// What a run checks, and how it disturbs smsq, stays in the run's own
// package.
package harness
