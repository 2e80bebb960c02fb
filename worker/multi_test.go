package worker_test

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/worker"
)

// Two workers on one pool: every run's container group is created exactly
// once (one ARM deployment per run), and all complete. CI runs 24;
// ACIWORKER_TEST_TWO_WORKER_RUNS=50 is the size.
func TestTwoWorkersOnePool(t *testing.T) {
	t.Parallel()
	twoWorkers(t, heavyBed(t), 24, nil)
}

// The same with orphan recovery so impatient that the workers hand back
// each other's live claims all the time (a claim's worker stalls on a busy
// server for longer than OrphanAfter): a run may be claimed again, but it
// is still deployed only once. It has a SQLite-backed server of its own:
// the stalls that make claims look abandoned are SQLite's.
func TestTwoWorkersImpatientOrphanRecovery(t *testing.T) {
	t.Parallel()
	twoWorkers(t, newBed(t, stallingServer.Get(t)), 12, func(c *worker.Config) { c.OrphanAfter = 2 * time.Second })
}

var stallingServer = prefecttest.Extra(prefecttest.Options{})

func twoWorkers(t *testing.T, b *bed, defRuns int, mod func(*worker.Config)) {
	runs := scaleKnob(t, "ACIWORKER_TEST_TWO_WORKER_RUNS", defRuns)
	b.createPool(nil)
	dep := b.deploy("shared", t.TempDir(), "flows.py:x", b.jobVars(standinCommand()))
	ids := make([]string, runs)
	for i := range ids {
		ids[i] = b.runDeployment(dep, nil)
	}
	// On failure (a wrong end, or a run that never ended), every run not
	// Completed shows its state history: which claim came when, and in
	// what order the server lists them.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, id := range ids {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			fr, err := b.pf.ReadFlowRun(ctx, id)
			cancel()
			if err == nil && fr.StateType != prefect.StateCompleted {
				t.Logf("run %s: now %s; labels %v; history:\n%s", id, fr.StateType, fr.Labels, b.history(id))
			}
		}
	})
	var mods []func(*worker.Config)
	if mod != nil {
		mods = append(mods, mod)
	}
	b.startWorker(mods...)
	b.startWorker(mods...)
	for _, id := range ids {
		if fr := b.waitFinal(id, 4*time.Minute); fr.StateType != prefect.StateCompleted {
			t.Errorf("run %s: %s (%s)", id, fr.StateType, stateMessage(fr))
		}
	}
	b.waitClean(2 * time.Minute)
	if n := b.emu.Counters().Count("deployments.put"); n != runs {
		t.Errorf("%d deployments created for %d runs; want exactly one each; repeated: %s", n, runs, repeatedPuts(b.emu.RequestLog()))
	}
}

// repeatedPuts names the deployments PUT more than once, with the status
// of each PUT, so that a failure says which run went twice and how.
func repeatedPuts(log []emulator.RequestRecord) string {
	byPath := map[string][]string{}
	var order []string
	for _, r := range log {
		if r.Op != "deployments.put" {
			continue
		}
		if _, ok := byPath[r.Path]; !ok {
			order = append(order, r.Path)
		}
		byPath[r.Path] = append(byPath[r.Path], fmt.Sprintf("%s %d", r.Time.Format("15:04:05.000"), r.Status))
	}
	var out []string
	for _, p := range order {
		if len(byPath[p]) > 1 {
			out = append(out, fmt.Sprintf("%s: %s", path.Base(p), strings.Join(byPath[p], ", ")))
		}
	}
	if len(out) == 0 {
		return "none by path"
	}
	return strings.Join(out, "; ")
}

// killServer is a Prefect server of its own for the kill -9 scenario: the
// SQLite server can stall for minutes after a client dies mid-request,
// which would slow every other test sharing it.
var killServer = prefecttest.Extra(prefecttest.Options{})

// kill -9 of the worker mid-run, then a restart: the run that was in flight
// still reaches its final state, the run that ended while no worker was
// there is cleaned up, and nothing is left behind.
func TestKillAndRestart(t *testing.T) {
	t.Parallel()
	b := newBed(t, killServer.Get(t))
	b.createPool(nil)
	// Each flow runs until the test lets it finish, so the order of events
	// does not depend on timing.
	gates := t.TempDir()
	gate := func(name string) string { return filepath.Join(gates, name) }
	open := func(name string) {
		t.Helper()
		if err := os.WriteFile(gate(name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	long := b.deploy("survivor", t.TempDir(), "flows.py:x", b.jobVars(standinCommand("-until-file", gate("long"))))
	short := b.deploy("orphan", t.TempDir(), "flows.py:x", b.jobVars(standinCommand("-until-file", gate("short"))))
	longID := b.runDeployment(long, nil)
	shortID := b.runDeployment(short, nil)
	const name = "restartable-worker"
	first, _ := b.startProcess(t, name)
	b.waitRunning(longID, 2*time.Minute)
	b.waitRunning(shortID, 2*time.Minute)
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	// The short run finishes while no worker watches it.
	open("short")
	b.waitState(shortID, prefect.StateCompleted, time.Minute)
	second, out := b.startProcess(t, name)
	waitFor(t, time.Minute, "the restarted worker to re-adopt the running flow run", func() (bool, error) {
		return strings.Contains(out.String(), "re-adopted flow run '"+longID+"'"), nil
	})
	open("long")
	for _, id := range []string{longID, shortID} {
		if fr := b.waitFinal(id, 2*time.Minute); fr.StateType != prefect.StateCompleted {
			t.Errorf("run %s: %s (%s)", id, fr.StateType, stateMessage(fr))
		}
	}
	b.waitClean(time.Minute)
	// SIGTERM: the worker stops and exits 0.
	second.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- second.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("worker exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("worker did not exit within 30 s of SIGTERM")
	}
}

func (b *bed) waitState(id, stateType string, d time.Duration) {
	b.t.Helper()
	waitFor(b.t, d, "flow run "+id+" to be "+stateType, func() (bool, error) {
		fr, err := b.pf.ReadFlowRun(context.Background(), id)
		if err != nil {
			return false, err
		}
		return fr.StateType == stateType, nil
	})
}
