// Package emutest starts an in-process Azure emulator for other packages'
// tests.
package emutest

import (
	"testing"
	"time"

	"github.com/aciworker/aciworker/emulator"
)

// responseHook is installed on every emulator Start makes; see
// RecordResponses.
var responseHook func(emulator.Response)

// RecordResponses makes every emulator Start makes from now on pass its
// answers to hook (unless the test sets its own). Call it from TestMain,
// before any test runs.
func RecordResponses(hook func(emulator.Response)) { responseHook = hook }

// Start runs an emulator for the test with fast long-running-operation
// hints, applies opts to its configuration, and closes it (killing every
// container process) when the test ends.
func Start(t testing.TB, opts ...func(*emulator.Config)) *emulator.Emulator {
	t.Helper()
	cfg := emulator.Config{
		StateDir:    t.TempDir(),
		LROPollHint: 20 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.ResponseHook == nil {
		cfg.ResponseHook = responseHook
	}
	e, err := emulator.New(cfg)
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close emulator: %v", err)
		}
	})
	return e
}
