package worker

import (
	"context"
	"time"

	"github.com/aciworker/aciworker/prefect"
)

// Observer hears what the worker does, for metrics. Its methods are called
// from many goroutines and must return at once.
type Observer interface {
	// RunSubmitted: Azure accepted a run's deployment, sinceScheduled after
	// the run's scheduled start (negative when fetched ahead of time).
	RunSubmitted(sinceScheduled time.Duration)
	// RunFinished: a run this worker submitted or adopted ended in
	// stateType (a Prefect state type, e.g. "COMPLETED").
	RunFinished(stateType string)
	// WatchRound: one round of watching every in-flight run took d.
	WatchRound(d time.Duration)
	// Reconciled: one reconcile pass took d.
	Reconciled(d time.Duration)
	// ReconcileRemoved: reconcile removed a leftover "group" or "record".
	ReconcileRemoved(kind string)
	// EventDropped: a Prefect event was given up on.
	EventDropped()
}

// nopObserver is the Observer of a worker nobody observes.
type nopObserver struct{}

func (nopObserver) RunSubmitted(time.Duration) {}
func (nopObserver) RunFinished(string)         {}
func (nopObserver) WatchRound(time.Duration)   {}
func (nopObserver) Reconciled(time.Duration)   {}
func (nopObserver) ReconcileRemoved(string)    {}
func (nopObserver) EventDropped()              {}

// observed reports whether anyone hears the worker, so that reads made
// only for metrics are skipped when nobody does.
func (w *Worker) observed() bool {
	_, nop := w.cfg.Observer.(nopObserver)
	return !nop
}

// observeSubmitted tells the observer that Azure accepted r's deployment.
func (w *Worker) observeSubmitted(r *run, now time.Time) {
	r.submitted.Store(true)
	var since time.Duration
	switch {
	case r.fr.ExpectedStartTime != nil:
		since = now.Sub(*r.fr.ExpectedStartTime)
	case r.fr.NextScheduledStartTime != nil:
		since = now.Sub(*r.fr.NextScheduledStartTime)
	}
	w.cfg.Observer.RunSubmitted(since)
}

// observeFinal reads the final state of a run the worker has finished
// with and tells the observer. The worker's own verdict is not enough:
// a container that exited 1 may belong to a flow that Failed on its own
// or to one the worker reported Crashed, and only Prefect knows which.
func (w *Worker) observeFinal(ctx context.Context, r *run) {
	if !w.observed() || ctx.Err() != nil || r.finishCounted.Load() {
		return
	}
	var fr *prefect.FlowRun
	err := w.retryTransient(ctx, func(ctx context.Context) (err error) {
		fr, err = w.pf.ReadFlowRun(ctx, r.id)
		return err
	})
	if err != nil || !isTerminal(fr.StateType) {
		return
	}
	w.observeFinished(r, fr.StateType)
}

// observeFinished tells the observer how r ended, once per run.
func (w *Worker) observeFinished(r *run, stateType string) {
	if r.finishCounted.CompareAndSwap(false, true) {
		w.cfg.Observer.RunFinished(stateType)
	}
}

// Unfinished is the number of runs in flight whose end the worker has not
// yet seen: a run whose flow run is final but whose container group is
// still being removed no longer counts.
func (w *Worker) Unfinished() int {
	_, n := w.store.count()
	return n
}
