package worker

import (
	"context"
	"fmt"

	"github.com/aciworker/aciworker/prefect"
)

func (w *Worker) pollLoop(ctx context.Context) {
	w.every(ctx, w.cfg.QueryInterval, true, func(ctx context.Context) error {
		return w.pollOnce(ctx)
	})
}

// pollOnce fetches scheduled runs and starts submitting each that is not
// already in flight, while --limit has room. Polling claims nothing: the
// Pending proposal decides which worker runs a flow run.
func (w *Worker) pollOnce(ctx context.Context) error {
	select {
	case <-w.synced:
	default:
		return nil
	}
	runs, err := w.pf.GetScheduledFlowRuns(ctx, w.cfg.Pool, w.cfg.Queues, w.now().Add(w.cfg.Prefetch))
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("polling for scheduled flow runs failed; retrying", "err", err)
		}
		return err
	}
	// Only an answered poll counts for /health, as in Prefect, where a
	// failed query raises before _last_polled_time is set.
	w.lastPoll.Store(w.now().UnixNano())
	w.pollOnce1.Do(func() { close(w.polled) })
	lk := newLookups(w.pf, w.retryTransient)
	for _, wr := range runs {
		fr := wr.FlowRun
		r := &run{id: fr.ID, fr: fr, poolID: wr.WorkPoolID, lk: lk}
		switch w.store.take(r, true) {
		case held:
			continue
		case full:
			w.log.Debug("flow run limit reached; the rest wait for the next poll", "limit", w.cfg.Limit)
			return nil
		}
		w.runLog(fr.ID, prefect.LevelInfo, fmt.Sprintf("Worker '%s' submitting flow run '%s'", w.cfg.Name, fr.ID))
		if id := w.BackendID(); id != "" {
			w.runLog(fr.ID, prefect.LevelInfo, fmt.Sprintf("Running on worker id: %s", id))
		}
		w.runs.Add(1)
		go w.handle(ctx, r)
	}
	return nil
}
