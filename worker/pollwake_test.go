package worker_test

import (
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/worker"
)

// Runs that become due between two polls are submitted when Prefect
// announces them, not at the next poll, whose interval is an hour here: a
// run created in the pool (its Scheduled event), and a run released by
// resuming the paused pool (the pool's status event; the run's own event
// came while the pool was paused and its poll found nothing).
func TestPollWokenByPrefectEvents(t *testing.T) {
	t.Parallel()
	s := prefecttest.Get(t)
	b := newBed(t, s)
	b.createPool(nil)
	dep := b.deploy("woken", t.TempDir(), "flows.py:x", b.jobVars(standinCommand()))
	w, _, _ := b.startWorker(func(c *worker.Config) { c.QueryInterval = time.Hour })
	ctx := ctxFor(t, 5*time.Minute)
	select {
	case <-w.FirstPoll():
	case <-ctx.Done():
		t.Fatal("no first poll")
	}
	picked := func(id string) (bool, error) {
		fr, err := b.pf.ReadFlowRun(ctx, id)
		if err != nil {
			return false, err
		}
		return fr.StateType != prefect.StateScheduled, nil
	}
	// waitPicked waits a while for the run to be claimed.
	waitPicked := func(id string, d time.Duration) bool {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			if ok, _ := picked(id); ok {
				return true
			}
		}
		return false
	}
	var ids []string
	// The stream joins Prefect's live events a moment after it subscribes,
	// so the first runs may go unannounced: each new run is announced and
	// takes the earlier ones with it.
	for {
		ids = append(ids, b.runDeployment(dep, nil))
		if waitPicked(ids[len(ids)-1], 10*time.Second) {
			break
		}
		if ctx.Err() != nil || len(ids) == 10 {
			t.Fatalf("none of %d runs created after the first poll was submitted", len(ids))
		}
	}
	cli := func(verb string) {
		t.Helper()
		if out, err := s.CLI(ctx, "work-pool", verb, b.pool); err != nil {
			t.Fatalf("prefect work-pool %s: %v\n%s", verb, err, out)
		}
	}
	cli("pause")
	held := b.runDeployment(dep, nil)
	ids = append(ids, held)
	if waitPicked(held, 3*time.Second) {
		t.Fatal("a run of a paused pool was submitted")
	}
	cli("resume")
	if !waitPicked(held, time.Minute) {
		t.Fatal("the run released by resuming the pool was not submitted")
	}
	for _, id := range ids {
		if fr := b.waitFinal(id, 3*time.Minute); fr.StateType != prefect.StateCompleted {
			t.Errorf("run %s ended %s", id, fr.StateType)
		}
	}
}
