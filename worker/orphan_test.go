package worker_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/prefectaci"
	"github.com/aciworker/aciworker/worker"
)

// Regression (found by the soak): a worker killed between its Pending
// proposal and its owner-label PATCH left the run Pending for ever, and a
// worker killed after labelling but before its ARM deployment had the run
// reported Crashed. Both runs are claimed but never submitted, so another
// worker hands them back to the pool and they run to completion, each
// with exactly one deployment.
func TestOrphanedClaimsAreRescheduled(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dep := b.deploy("orphans", t.TempDir(), "flows.py:x", b.jobVars(standinCommand()))
	ctx := ctxFor(t, 3*time.Minute)
	claim := func(id, message string) {
		t.Helper()
		st := prefect.StateCreate{Type: prefect.StatePending, Message: message, StateDetails: prefect.StateDetails{TransitionID: prefect.NewTransitionID()}}
		res, err := b.pf.SetFlowRunState(ctx, id, st, false)
		if err != nil || res.Status != prefect.StatusAccept {
			t.Fatalf("claiming %s as a worker that then dies: %v %+v", id, err, res)
		}
	}
	// Claimed the way Prefect's worker claims (no message), unlabelled and
	// labelled, and the way aciworker claims (its name in the message).
	unlabelled := b.runDeployment(dep, nil)
	claim(unlabelled, "")
	labelled := b.runDeployment(dep, nil)
	claim(labelled, "")
	if err := b.pf.UpdateFlowRunLabels(ctx, labelled, map[string]string{"prefect.worker.name": "ghost-worker-" + randomSuffix()}); err != nil {
		t.Fatal(err)
	}
	named := b.runDeployment(dep, nil)
	claim(named, "Claimed by worker 'ghost-worker-"+randomSuffix()+"'")
	b.startWorker(func(c *worker.Config) { c.OrphanAfter = time.Second })
	all := []string{unlabelled, labelled, named}
	for _, id := range all {
		fr := b.waitFinal(id, 2*time.Minute)
		if fr.StateType != prefect.StateCompleted {
			t.Errorf("run %s: %s (%s), want COMPLETED", id, fr.StateType, stateMessage(fr))
		}
	}
	for _, id := range all {
		waitFor(t, 30*time.Second, "run "+id+"'s logs to say it was rescheduled", func() (bool, error) {
			return strings.Contains(b.logs(id), "Rescheduled by worker"), nil
		})
	}
	b.waitClean(time.Minute)
	if n := b.emu.Counters().Count("deployments.put"); n != len(all) {
		t.Errorf("%d deployments for %d runs; want exactly one each", n, len(all))
	}
}

// A claim handed back to the pool while its worker was in fact deploying
// (the moment between orphan recovery's last look and its write): the
// worker that claims the run next finds the deployment and watches it
// instead of starting the flow a second time.
func TestHandedBackWhileDeploying(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	gate := filepath.Join(t.TempDir(), "finish")
	dep := b.deploy("handed-back", t.TempDir(), "flows.py:x", b.jobVars(standinCommand("-until-file", gate)))
	id := b.runDeployment(dep, nil)
	_, _, stop := b.startWorker()
	b.waitRunning(id, 2*time.Minute)
	stop() // its container keeps running
	ctx := ctxFor(t, 3*time.Minute)
	now := time.Now().UTC()
	st := prefect.StateCreate{Type: prefect.StateScheduled, Name: "Scheduled",
		Message:      "Rescheduled by worker 'another-worker': the flow run was claimed by worker 'first', which stopped before it created the container group",
		StateDetails: prefect.StateDetails{ScheduledTime: &now, TransitionID: prefect.NewTransitionID()}}
	if err := b.pf.UpdateFlowRunLabels(ctx, id, map[string]string{"aciworker.rescheduled-by": "another-worker"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pf.SetFlowRunState(ctx, id, st, true); err != nil {
		t.Fatal(err)
	}
	b.startWorker()
	waitFor(t, 2*time.Minute, "the run's logs to say its container group was already requested", func() (bool, error) {
		return strings.Contains(b.logs(id), "already requested by the worker of an earlier claim"), nil
	})
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if fr := b.waitFinal(id, 2*time.Minute); fr.StateType != prefect.StateCompleted {
		t.Errorf("state %s (%s), want COMPLETED", fr.StateType, stateMessage(fr))
	}
	b.waitClean(time.Minute)
	if n := b.emu.Counters().Count("deployments.put"); n != 1 {
		t.Errorf("%d deployments for one run; want one", n)
	}
}

// Regression (found in CI on a slow machine): an orphan-recovery worker
// decided a claim was abandoned, then stalled on the server; meanwhile the
// claim's worker deployed and the run completed, and the late hand-back
// was accepted on the Completed run (Prefect allows leaving Completed when
// the result is not persisted). The next claim would have run the flow a
// second time; instead the worker puts Completed back and deploys nothing.
func TestHandBackThatOvertookTheEnd(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dep := b.deploy("overtaken", t.TempDir(), "flows.py:x", b.jobVars(standinCommand()))
	id := b.runDeployment(dep, nil)
	_, _, stop := b.startWorker()
	if fr := b.waitFinal(id, 2*time.Minute); fr.StateType != prefect.StateCompleted {
		t.Fatalf("state %s (%s), want COMPLETED", fr.StateType, stateMessage(fr))
	}
	b.waitClean(time.Minute)
	stop()
	ctx := ctxFor(t, 3*time.Minute)
	if err := b.pf.UpdateFlowRunLabels(ctx, id, map[string]string{"aciworker.rescheduled-by": "stalled-worker"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	st := prefect.StateCreate{Type: prefect.StateScheduled, Name: "Scheduled",
		Message:      "Rescheduled by worker 'stalled-worker': the flow run was claimed by worker 'first', which stopped before it created the container group",
		StateDetails: prefect.StateDetails{ScheduledTime: &now, TransitionID: prefect.NewTransitionID()}}
	res, err := b.pf.SetFlowRunState(ctx, id, st, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != prefect.StatusAccept {
		t.Fatalf("the server no longer accepts a hand-back of a completed run (%s: %s); this test's premise is gone", res.Status, res.Details.Reason)
	}
	b.startWorker()
	waitFor(t, 2*time.Minute, "the worker to put the run's final state back", func() (bool, error) {
		fr, err := b.pf.ReadFlowRun(ctx, id)
		if err != nil {
			return false, err
		}
		return fr.StateType == prefect.StateCompleted && strings.Contains(b.logs(id), "that state is restored"), nil
	})
	if n := b.emu.Counters().Count("deployments.put"); n != 1 {
		t.Errorf("%d deployments for one run; want one", n)
	}
	b.waitClean(time.Minute)
}

// Regression (found by the soak): a worker killed after its deployment
// failed but before it reported the run left a Pending run with a group
// that failed to provision. The worker that adopts the run reports it
// Crashed with Azure's reason and removes the group and the record; before
// the fix it watched that group for ever.
func TestAdoptedClaimWithFailedProvisioning(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dep := b.deploy("half-submitted", t.TempDir(), "flows.py:x", b.jobVars(standinCommand()))
	ctx := ctxFor(t, 3*time.Minute)
	id := b.runDeployment(dep, nil)
	st := prefect.StateCreate{Type: prefect.StatePending, StateDetails: prefect.StateDetails{TransitionID: prefect.NewTransitionID()}}
	if res, err := b.pf.SetFlowRunState(ctx, id, st, false); err != nil || res.Status != prefect.StatusAccept {
		t.Fatalf("claiming %s: %v %+v", id, err, res)
	}
	if err := b.pf.UpdateFlowRunLabels(ctx, id, map[string]string{"prefect.worker.name": "killed-worker-" + randomSuffix()}); err != nil {
		t.Fatal(err)
	}
	// What the killed worker got as far as: a deployment that failed and
	// left its container group behind.
	const reason = "The requested resource is not available in the location 'eastus' at this moment."
	b.emu.FailProvisioning(1, "ServiceUnavailable", reason)
	group := worker.GroupName("half-submitted", id)
	job := aci.Job{GroupName: group, Image: aci.DefaultImage, Command: []string{"true"}}
	var err error
	if job.Template, err = prefectaci.DefaultTemplate(job); err != nil {
		t.Fatal(err)
	}
	p, err := aci.Prepare(job)
	if err != nil {
		t.Fatal(err)
	}
	rg := b.emu.Settings().ResourceGroup
	if err := b.az.Deploy(ctx, rg, p); err != nil {
		t.Fatal(err)
	}
	if res, err := b.az.WaitDeployment(ctx, rg, p.DeploymentName); err != nil || res.Succeeded() {
		t.Fatalf("the staged deployment should have failed: %v %+v", err, res)
	}
	if _, err := b.az.GetGroup(ctx, rg, group); err != nil {
		t.Fatalf("the failed deployment left no group to adopt: %v", err)
	}
	b.startWorker(func(c *worker.Config) { c.OrphanAfter = time.Second })
	fr := b.waitFinal(id, 2*time.Minute)
	if fr.StateType != prefect.StateCrashed || !strings.Contains(stateMessage(fr), "not available in the location") {
		t.Errorf("state %s (%s), want CRASHED with Azure's reason", fr.StateType, stateMessage(fr))
	}
	b.waitClean(time.Minute)
}

// Regression (found by the soak): a worker killed between claiming a run
// whose configuration cannot be built (here: a job variable names a block
// that does not exist) and reporting it left the run Pending. The
// worker that takes the abandoned claim over reports it Crashed with the
// reason; before the fix it logged that it could not watch the run, every
// round, for ever.
func TestAbandonedClaimWithBadConfiguration(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	jv := b.jobVars(standinCommand())
	jv["env"] = map[string]any{"TOKEN": "{{ prefect.blocks.secret.no-such-block-" + randomSuffix() + " }}"}
	dep := b.deploy("bad-config", t.TempDir(), "flows.py:x", jv)
	ctx := ctxFor(t, 3*time.Minute)
	id := b.runDeployment(dep, nil)
	st := prefect.StateCreate{Type: prefect.StatePending, Message: "Claimed by worker 'killed-worker-" + randomSuffix() + "'",
		StateDetails: prefect.StateDetails{TransitionID: prefect.NewTransitionID()}}
	if res, err := b.pf.SetFlowRunState(ctx, id, st, false); err != nil || res.Status != prefect.StatusAccept {
		t.Fatalf("claiming %s: %v %+v", id, err, res)
	}
	b.startWorker(func(c *worker.Config) { c.OrphanAfter = time.Second })
	fr := b.waitFinal(id, 2*time.Minute)
	if fr.StateType != prefect.StateCrashed || !strings.Contains(stateMessage(fr), "no-such-block-") {
		t.Fatalf("state %s (%s), want CRASHED naming the missing block", fr.StateType, stateMessage(fr))
	}
	if n := b.emu.Counters().Count("deployments.put"); n != 0 {
		t.Errorf("%d deployments for a run whose configuration is bad; want none", n)
	}
}

// A run claimed by a worker that died (Pending, no pid), then cancelled by
// its user, ends Cancelled, as Prefect's worker ends a run cancelled before
// it had infrastructure, once the claim is surely abandoned; nothing is
// created for it. Claims with and without a named worker.
func TestCancelledWhilePendingEndsCancelled(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dep := b.deploy("cancelled-pending", t.TempDir(), "flows.py:x", b.jobVars(standinCommand()))
	ctx := ctxFor(t, 3*time.Minute)
	var ids []string
	for _, message := range []string{"", "Claimed by worker 'ghost-worker-" + randomSuffix() + "'"} {
		id := b.runDeployment(dep, nil)
		for _, typ := range []string{prefect.StatePending, prefect.StateCancelling} {
			st := prefect.StateCreate{Type: typ, Message: message, StateDetails: prefect.StateDetails{TransitionID: prefect.NewTransitionID()}}
			if _, err := b.pf.SetFlowRunState(ctx, id, st, true); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, id)
	}
	b.startWorker(func(c *worker.Config) { c.OrphanAfter = time.Second })
	for _, id := range ids {
		fr := b.waitFinal(id, 2*time.Minute)
		if fr.StateType != prefect.StateCancelled || !strings.Contains(stateMessage(fr), "no infrastructure found") {
			t.Errorf("run %s: %s (%s), want CANCELLED with no infrastructure found", id, fr.StateType, stateMessage(fr))
		}
	}
	if n := b.emu.Counters().Count("deployments.put"); n != 0 {
		t.Errorf("%d deployments for runs cancelled before they started", n)
	}
}

// A Cancelling run whose container group was deleted out of band before
// the worker removed it ends Cancelled (Prefect rejects Crashed from
// Cancelling), and is not re-adopted over and over.
func TestCancelledAfterGroupVanished(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dep := b.deploy("vanish-cancel", t.TempDir(), "flows.py:x", b.jobVars(standinCommand("-sleep", "10m")))
	id := b.runDeployment(dep, nil)
	// The cancel grace outlasts the test: the group is gone before the
	// worker would remove it.
	_, out, _ := b.startWorker(func(c *worker.Config) { c.CancelGrace = time.Hour })
	group := b.waitRunning(id, 2*time.Minute)
	ctx := ctxFor(t, 3*time.Minute)
	if _, err := b.pf.SetFlowRunState(ctx, id, prefect.StateCreate{Type: prefect.StateCancelling, Name: "Cancelling"}, false); err != nil {
		t.Fatal(err)
	}
	if err := b.az.DeleteGroup(ctx, b.emu.Settings().ResourceGroup, group); err != nil {
		t.Fatal(err)
	}
	fr := b.waitFinal(id, time.Minute)
	if fr.StateType != prefect.StateCancelled {
		t.Fatalf("state %s (%s), want CANCELLED", fr.StateType, stateMessage(fr))
	}
	if !strings.Contains(out.String(), "Cannot transition flows that are cancelling") {
		t.Errorf("the server's rejection of Crashed is not in the worker's log")
	}
	if n := strings.Count(b.logs(id), "re-adopted"); n > 0 {
		t.Errorf("the run was re-adopted %d times", n)
	}
	b.waitClean(time.Minute)
}
