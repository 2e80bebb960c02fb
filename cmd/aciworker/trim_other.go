//go:build !linux

package main

import "runtime/debug"

// trimIdle returns start-up's heap garbage to the OS (see trim_linux.go
// for what Linux gives back besides).
func trimIdle() error {
	debug.FreeOSMemory()
	return nil
}

// residentBytes is unknown here, so the idle loop ends after its first
// trim.
func residentBytes() (int64, bool) { return 0, false }
