package worker

import (
	"context"
	"time"
)

// drainTimeout bounds how long a stopping worker spends on runs that are
// already final in Prefect, within the 30 s a Kubernetes pod gets between
// SIGTERM and SIGKILL by default.
const drainTimeout = 20 * time.Second

// finishOnStop is what a stopping worker does with a run it follows. A
// run still running is left to its container and re-adopted by the next
// worker. A run already final in Prefect has a container that is ending
// now: the worker waits for it (bounded), so that the run's executed event
// is sent and its group removed by the worker that ran it rather than
// found later by reconcile. It reports whether it finished the run.
func (w *Worker) finishOnStop(ctx context.Context, r *run) bool {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	fr, err := w.pf.ReadFlowRun(dctx, r.id)
	if err != nil || !isTerminal(fr.StateType) {
		return false
	}
	for {
		select {
		case s := <-r.seen:
			r.noteContainer(s.group)
			switch {
			case s.final != nil:
				r.phase = phaseFinishing
				w.finish(dctx, r, *s.final)
				return true
			case s.kill:
				// Final in Prefect: nothing to cancel.
				w.watch.killFailed(r.id)
			}
		case <-dctx.Done():
			return false
		}
	}
}
