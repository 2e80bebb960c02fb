package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/runtime"
	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/worker"
)

// A command that exits 3 before any flow code runs: Crashed with the exit
// code, and the container's last lines in the flow run's logs.
func TestExitBeforeFlowStarts(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dep := b.deploy("early-exit", t.TempDir(), "flows.py:nothing", b.jobVars(`sh -c 'echo preparing the run; echo dependency missing: libfoo >&2; exit 3'`))
	id := b.runDeployment(dep, nil)
	b.startWorker()
	fr := b.waitFinal(id, 2*time.Minute)
	if fr.StateType != prefect.StateCrashed {
		t.Fatalf("state %s (%s), want CRASHED", fr.StateType, stateMessage(fr))
	}
	if msg := stateMessage(fr); !strings.Contains(msg, "non-zero status code 3") {
		t.Errorf("Crashed message %q lacks the exit code", msg)
	}
	b.waitClean(time.Minute)
	waitFor(t, 30*time.Second, "the output tail in the flow run's logs", func() (bool, error) {
		logs := b.logs(id)
		return strings.Contains(logs, "dependency missing: libfoo") && strings.Contains(logs, "preparing the run"), nil
	})
}

// An image that cannot be pulled: Crashed with Azure's reason; the group
// and the deployment record are deleted.
func TestImagePullFailure(t *testing.T) {
	t.Parallel()
	const reason = "manifest for example.invalid/missing:1 not found: manifest unknown"
	b := newBed(t, prefecttest.Get(t), func(c *emulator.Config) {
		c.Images = []runtime.Image{{Pattern: "example.invalid/missing:*", PullError: reason}}
	})
	b.createPool(nil)
	jv := b.jobVars(standinCommand())
	jv["image"] = "example.invalid/missing:1"
	dep := b.deploy("pull-fails", t.TempDir(), "flows.py:x", jv)
	id := b.runDeployment(dep, nil)
	b.startWorker()
	fr := b.waitFinal(id, 2*time.Minute)
	if fr.StateType != prefect.StateCrashed {
		t.Fatalf("state %s (%s), want CRASHED", fr.StateType, stateMessage(fr))
	}
	msg := stateMessage(fr)
	if !strings.HasPrefix(msg, "Failed to submit flow run to infrastructure: ") || !strings.Contains(msg, "manifest unknown") {
		t.Errorf("Crashed message %q lacks Azure's reason", msg)
	}
	b.waitClean(time.Minute)
}

// Cancelling a running flow: Cancelled and the group deleted, or, with
// keep_container_group, stopped and kept.
func TestCancelRunning(t *testing.T) {
	t.Parallel()
	for _, keep := range []bool{false, true} {
		name := "delete"
		if keep {
			name = "keep"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBed(t, prefecttest.Get(t))
			b.createPool(nil)
			jv := b.jobVars(standinCommand("-sleep", "10m"))
			jv["keep_container_group"] = keep
			dep := b.deploy("long-flow", t.TempDir(), "flows.py:x", jv)
			id := b.runDeployment(dep, nil)
			b.startWorker()
			group := b.waitRunning(id, 2*time.Minute)
			if _, err := b.pf.SetFlowRunState(context.Background(), id, prefect.StateCreate{Type: prefect.StateCancelling, Name: "Cancelling"}, false); err != nil {
				t.Fatal(err)
			}
			fr := b.waitFinal(id, time.Minute)
			if fr.StateType != prefect.StateCancelled {
				t.Fatalf("state %s (%s), want CANCELLED", fr.StateType, stateMessage(fr))
			}
			rg := b.emu.Settings().ResourceGroup
			if !keep {
				b.waitClean(time.Minute)
				if n := groupRequests(b.emu, "DELETE", group, ""); n != 1 {
					t.Errorf("the group was deleted %d times, want once", n)
				}
				return
			}
			waitFor(t, time.Minute, "the kept group stopped and its deployment record gone", func() (bool, error) {
				g, err := b.az.GetGroup(context.Background(), rg, group)
				if err != nil {
					return false, err
				}
				ds, err := b.az.ListDeployments(context.Background(), rg)
				if err != nil {
					return false, err
				}
				_, terminated := g.Outcome()
				return terminated && len(ds) == 0, nil
			})
			if n := groupRequests(b.emu, "POST", group, "/stop"); n != 1 {
				t.Errorf("the group was stopped %d times, want once", n)
			}
			if err := b.az.DeleteGroup(context.Background(), rg, group); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The group deleted behind the worker's back: Crashed with a clear message.
func TestGroupDeletedBehindBack(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dep := b.deploy("victim", t.TempDir(), "flows.py:x", b.jobVars(standinCommand("-sleep", "10m")))
	id := b.runDeployment(dep, nil)
	b.startWorker()
	group := b.waitRunning(id, 2*time.Minute)
	if err := b.az.DeleteGroup(context.Background(), b.emu.Settings().ResourceGroup, group); err != nil {
		t.Fatal(err)
	}
	fr := b.waitFinal(id, time.Minute)
	if fr.StateType != prefect.StateCrashed {
		t.Fatalf("state %s, want CRASHED", fr.StateType)
	}
	if msg := stateMessage(fr); !strings.Contains(msg, "was deleted before the flow run finished") || !strings.Contains(msg, group) {
		t.Errorf("Crashed message %q does not say the group was deleted", msg)
	}
	b.waitClean(time.Minute)
}

// Quick runs through a --limit (45 runs, limit 15 in CI;
// ACIWORKER_TEST_LIMIT_RUNS=200 is the 200 runs with limit 20):
// all Completed, nothing left, never more runs in flight than the limit.
func TestLimit(t *testing.T) {
	t.Parallel()
	runs := scaleKnob(t, "ACIWORKER_TEST_LIMIT_RUNS", 45)
	limit := 15
	if runs >= 200 {
		limit = 20
	}
	b := heavyBed(t)
	b.createPool(nil)
	dep := b.deploy("quick", t.TempDir(), "flows.py:x", b.jobVars(standinCommand()))
	ids := make([]string, runs)
	for i := range ids {
		ids[i] = b.runDeployment(dep, nil)
	}
	w, _, _ := b.startWorker(func(c *worker.Config) { c.Limit = limit })
	peak := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	peakDone := make(chan struct{})
	go func() {
		defer close(peakDone)
		for ctx.Err() == nil {
			peak = max(peak, w.InFlight())
			time.Sleep(20 * time.Millisecond)
		}
	}()
	for _, id := range ids {
		if fr := b.waitFinal(id, 6*time.Minute); fr.StateType != prefect.StateCompleted {
			t.Errorf("run %s: %s (%s)", id, fr.StateType, stateMessage(fr))
		}
	}
	cancel()
	<-peakDone
	if peak > limit {
		t.Errorf("%d runs in flight at once; the limit is %d", peak, limit)
	}
	b.waitClean(2 * time.Minute)
}

// A run the server has marked Late (what Prefect's late-runs service
// writes: still SCHEDULED, named "Late", the original scheduled time kept)
// is picked up and completes like any scheduled run.
func TestLateRunIsPickedUp(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dep := b.deploy("late", t.TempDir(), "flows.py:x", b.jobVars(standinCommand()))
	id := b.runDeployment(dep, nil)
	ctx := ctxFor(t, time.Minute)
	fr, err := b.pf.ReadFlowRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	scheduled := time.Now().UTC().Add(-time.Minute)
	if fr.State != nil && fr.State.StateDetails.ScheduledTime != nil {
		scheduled = *fr.State.StateDetails.ScheduledTime
	}
	late := prefect.StateCreate{Type: prefect.StateScheduled, Name: "Late",
		StateDetails: prefect.StateDetails{ScheduledTime: &scheduled, TransitionID: prefect.NewTransitionID()}}
	if _, err := b.pf.SetFlowRunState(ctx, id, late, true); err != nil {
		t.Fatal(err)
	}
	if fr, err := b.pf.ReadFlowRun(ctx, id); err != nil || fr.State == nil || fr.State.Name != "Late" {
		t.Fatalf("the run is not Late before the worker starts: %+v, %v", fr, err)
	}
	b.startWorker()
	if fr := b.waitFinal(id, 2*time.Minute); fr.StateType != prefect.StateCompleted {
		t.Fatalf("state %s (%s), want COMPLETED", fr.StateType, stateMessage(fr))
	}
	b.waitClean(time.Minute)
}

// groupRequests counts the requests the emulator saw for a container group
// (suffix "" is the group itself, "/stop" its stop action).
func groupRequests(emu *emulator.Emulator, method, group, suffix string) int {
	n := 0
	for _, rec := range emu.RequestLog() {
		if rec.Method == method && strings.HasSuffix(strings.ToLower(rec.Path), strings.ToLower("/containerGroups/"+group+suffix)) {
			n++
		}
	}
	return n
}
