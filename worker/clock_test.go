package worker_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/internal/backoff/fakeclock"
	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/worker"
)

// steppedClock is a fake clock that keeps pace with real time (a step
// every few milliseconds) so that the worker's loops and Azure's polls run
// as usual, while a test jumps it past a long rule (a grace period, an
// orphan age) without waiting for it.
func steppedClock(t *testing.T) *fakeclock.Clock {
	clk := fakeclock.New(time.Now())
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		const step = 5 * time.Millisecond
		tick := time.NewTicker(step)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				clk.Advance(step)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return clk
}

// roundCounter counts the watcher's rounds.
type roundCounter struct {
	rounds atomic.Int64
}

func (c *roundCounter) WatchRound(time.Duration)   { c.rounds.Add(1) }
func (c *roundCounter) RunSubmitted(time.Duration) {}
func (c *roundCounter) RunFinished(string)         {}
func (c *roundCounter) Reconciled(time.Duration)   {}
func (c *roundCounter) ReconcileRemoved(string)    {}
func (c *roundCounter) EventDropped()              {}

// waitRounds waits until the watcher has made n more rounds.
func (c *roundCounter) waitRounds(t *testing.T, n int64) {
	t.Helper()
	want := c.rounds.Load() + n
	waitFor(t, time.Minute, "the watcher's rounds", func() (bool, error) { return c.rounds.Load() >= want, nil })
}

// CancelGrace is measured on the worker's clock: a Cancelling run keeps its
// container through the watcher's rounds until the clock passes the grace
// (an hour here, jumped over), then its group is removed and it ends
// Cancelled.
func TestCancelGraceOnTheClock(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dep := b.deploy("grace", t.TempDir(), "flows.py:x", b.jobVars(standinCommand("-sleep", "10m")))
	id := b.runDeployment(dep, nil)
	clk := steppedClock(t)
	obs := &roundCounter{}
	b.startWorker(func(c *worker.Config) {
		c.Clock = clk
		c.CancelGrace = time.Hour
		c.WatchInterval = 100 * time.Millisecond
		c.Observer = obs
	})
	group := b.waitRunning(id, 2*time.Minute)
	if _, err := b.pf.SetFlowRunState(context.Background(), id, prefect.StateCreate{Type: prefect.StateCancelling, Name: "Cancelling"}, false); err != nil {
		t.Fatal(err)
	}
	obs.waitRounds(t, 5)
	if fr, err := b.pf.ReadFlowRun(context.Background(), id); err != nil || fr.StateType != prefect.StateCancelling {
		t.Fatalf("before the grace is over: %v %v, want CANCELLING", fr, err)
	}
	if n := groupRequests(b.emu, "DELETE", group, ""); n != 0 {
		t.Fatalf("the group was deleted %d times within the grace", n)
	}
	clk.Advance(time.Hour)
	if fr := b.waitFinal(id, time.Minute); fr.StateType != prefect.StateCancelled {
		t.Fatalf("state %s (%s), want CANCELLED", fr.StateType, stateMessage(fr))
	}
	b.waitClean(time.Minute)
}

// OrphanAfter is measured on the worker's clock: an unlabelled claim whose
// worker is gone stays Pending while its age is under the hour asked for,
// through several adoption passes; once the clock passes the hour it goes
// back to the pool and runs.
func TestOrphanAfterOnTheClock(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dep := b.deploy("orphan-clock", t.TempDir(), "flows.py:x", b.jobVars(standinCommand()))
	id := b.runDeployment(dep, nil)
	ctx := ctxFor(t, 3*time.Minute)
	st := prefect.StateCreate{Type: prefect.StatePending, StateDetails: prefect.StateDetails{TransitionID: prefect.NewTransitionID()}}
	if res, err := b.pf.SetFlowRunState(ctx, id, st, false); err != nil || res.Status != prefect.StatusAccept {
		t.Fatalf("claiming the run as a worker that then dies: %v %+v", err, res)
	}
	clk := steppedClock(t)
	const adoptEvery = 200 * time.Millisecond
	w, _, _ := b.startWorker(func(c *worker.Config) {
		c.Clock = clk
		c.OrphanAfter = time.Hour
		c.AdoptInterval = adoptEvery
	})
	select {
	case <-w.FirstPoll():
	case <-ctx.Done():
		t.Fatal("the worker never polled")
	}
	// Adoption passes come every adoptEvery on the clock: wait for several.
	from := clk.Now()
	waitFor(t, time.Minute, "several adoption passes", func() (bool, error) { return clk.Now().Sub(from) > 10*adoptEvery, nil })
	if fr, err := b.pf.ReadFlowRun(ctx, id); err != nil || fr.StateType != prefect.StatePending {
		t.Fatalf("before OrphanAfter: %v %v, want the claim still PENDING", fr, err)
	}
	clk.Advance(time.Hour)
	if fr := b.waitFinal(id, 2*time.Minute); fr.StateType != prefect.StateCompleted {
		t.Fatalf("state %s (%s), want COMPLETED", fr.StateType, stateMessage(fr))
	}
}

// The start timeout ends a run only on a look at ARM taken after its
// deadline: here the group starts at once, but every group list fails
// while the clock passes task_start_timeout_seconds (a worker late to
// look, as under a slow Prefect or a throttled ARM). The run is not
// Crashed; once the lists answer again it is seen started. Its container
// never reports to Prefect (a script that only sleeps), so only the lists
// can tell.
func TestStartTimeoutNeedsALookAfterTheDeadline(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	jv := b.jobVars("sleep 1h")
	jv["image"] = "aciworker/emulator-script:latest"
	jv["task_start_timeout_seconds"] = 60
	dep := b.deploy("late-look", t.TempDir(), "flows.py:x", jv)
	id := b.runDeployment(dep, nil)
	b.emu.InjectFault(emulator.Fault{Op: "containerGroups.list", Status: 400, Code: "BadRequest", Message: "lists are down", Times: 1 << 30})
	clk := steppedClock(t)
	obs := &roundCounter{}
	b.startWorker(func(c *worker.Config) {
		c.Clock = clk
		c.WatchInterval = 100 * time.Millisecond
		c.Observer = obs
	})
	ctx := ctxFor(t, 3*time.Minute)
	rg := b.emu.Settings().ResourceGroup
	waitFor(t, 2*time.Minute, "the run's group started", func() (bool, error) {
		fr, err := b.pf.ReadFlowRun(ctx, id)
		if err != nil || fr.InfrastructurePID == "" {
			return false, err
		}
		_, name, _ := strings.Cut(fr.InfrastructurePID, ":")
		g, err := b.az.GetGroup(ctx, rg, name)
		if err != nil {
			return false, nil // not created yet
		}
		return g.Started(), nil
	})
	clk.Advance(2 * time.Minute) // past the deadline, unseen
	obs.waitRounds(t, 5)
	if fr, err := b.pf.ReadFlowRun(ctx, id); err != nil || fr.StateType != prefect.StatePending {
		t.Fatalf("past the deadline with no list: %v %v, want the run still PENDING", stateOf(fr), err)
	}
	b.emu.ClearFaults()
	obs.waitRounds(t, 5)
	clk.Advance(15 * time.Minute) // past the silent-ARM grace too: it was seen started
	obs.waitRounds(t, 5)
	if fr, err := b.pf.ReadFlowRun(ctx, id); err != nil || fr.StateType != prefect.StatePending {
		t.Fatalf("seen started after the deadline: %v %v, want the run still PENDING", stateOf(fr), err)
	}
	// Cancel it to clean up: its container is removed.
	if _, err := b.pf.SetFlowRunState(ctx, id, prefect.StateCreate{Type: prefect.StateCancelling, Name: "Cancelling"}, false); err != nil {
		t.Fatal(err)
	}
	if fr := b.waitFinal(id, 2*time.Minute); fr.StateType != prefect.StateCancelled {
		t.Fatalf("state %s (%s), want CANCELLED", fr.StateType, stateMessage(fr))
	}
	b.waitClean(time.Minute)
}

func stateOf(fr *prefect.FlowRun) string {
	if fr == nil {
		return "<no run>"
	}
	return fr.StateType + " (" + stateMessage(fr) + ")"
}
