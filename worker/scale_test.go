package worker_test

import (
	"testing"
	"time"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/worker"
)

// Many runs in flight at once under ARM throttling, with the emulator's
// read bucket set below the worker's own budget so that Azure does answer
// 429: every run completes (no throttle-caused crash), and routine group
// reads stay within the budget's share however many runs there are.
// ACIWORKER_TEST_SCALE_RUNS=500 is the full size (run it on
// PostgreSQL-backed Prefect for speed); CI runs 30.
func TestScaleUnderThrottling(t *testing.T) {
	t.Parallel()
	runs := scaleKnob(t, "ACIWORKER_TEST_SCALE_RUNS", 30)
	b := heavyBed(t, func(c *emulator.Config) {
		c.MaxGroups, c.MaxCores = runs+10, runs+10
		c.Throttle = emulator.ThrottleLimits{Reads: emulator.Bucket{Size: 60, RefillPerSecond: 10}}
	})
	b.createPool(nil)
	dep := b.deploy("scale", t.TempDir(), "flows.py:x", b.jobVars(standinCommand("-sleep", "15s")))
	ids := make([]string, runs)
	for i := range ids {
		ids[i] = b.runDeployment(dep, nil)
	}
	start := time.Now()
	b.startWorker(func(c *worker.Config) { c.WatchInterval = 2 * time.Second })
	crashed := 0
	for _, id := range ids {
		fr := b.waitFinal(id, 10*time.Minute)
		if fr.StateType != prefect.StateCompleted {
			crashed++
			t.Errorf("run %s: %s (%s)", id, fr.StateType, stateMessage(fr))
		}
	}
	elapsed := time.Since(start)
	c := b.emu.Counters()
	gets := c.Count("containerGroups.get")
	t.Logf("%d runs in %s: ARM reads %d (%.1f per run), group GETs %d (%.2f per run), lists %d, deployment polls %d, 429s %d, token requests %d",
		runs, elapsed.Round(time.Second), c.Reads(), float64(c.Reads())/float64(runs), gets, float64(gets)/float64(runs),
		c.Count("containerGroups.list"), c.Count("deployments.get")+c.Count("operations.get"), c.Status(429), c.Count("token"))
	// Routine reads are planned at half of 20 reads/s; each run also gets
	// a few reads for what is news (start, end, clean-up).
	if limit := 4*runs + int(10*elapsed.Seconds()); gets > limit {
		t.Errorf("%d group GETs for %d runs in %s: over the budget's %d", gets, runs, elapsed, limit)
	}
	// Clean-up is bound by the same tightened read bucket (10/s): each
	// run's group delete and record delete are polled operations, so the
	// deadline grows with the number of runs.
	cleanStart := time.Now()
	b.waitClean(2*time.Minute + time.Duration(runs)*time.Second)
	t.Logf("clean-up of %d runs' groups and deployment records took %s after the last run ended", runs, time.Since(cleanStart).Round(time.Second))
}
