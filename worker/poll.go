package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/aciworker/aciworker/prefect"
)

// pollPage is how many runs the server returns for one poll at most (its
// default and largest limit, PREFECT_SERVER_API_DEFAULT_LIMIT).
const pollPage = 200

// maxPollPages bounds the pages one poll reads: 2 000 runs.
const maxPollPages = 10

// pollLoop polls every QueryInterval, and soon after Prefect announces runs
// that may be due (pollWake): a run released between two polls then waits
// for the announcement, not for the interval.
func (w *Worker) pollLoop(ctx context.Context) {
	w.everyOrWoken(ctx, w.cfg.QueryInterval, true, w.pollWake, func(ctx context.Context) error {
		return w.pollOnce(ctx)
	})
}

// pollOnce fetches scheduled runs and starts submitting each that is not
// already in flight, while --limit has room. Polling claims nothing: the
// Pending proposal decides which worker runs a flow run. A full page is
// followed at once by the next (the runs due from the last one's time on),
// where Prefect's worker waits a polling interval for each 200 runs.
func (w *Worker) pollOnce(ctx context.Context) error {
	select {
	case <-w.synced:
	default:
		return nil
	}
	before := w.now().Add(w.cfg.Prefetch)
	lk := newLookups(w.pf, w.retryTransient)
	var after time.Time
	for page := 0; page < maxPollPages; page++ {
		runs, err := w.pf.QueryScheduledFlowRuns(ctx, w.cfg.Pool, prefect.ScheduledRunsQuery{Queues: w.cfg.Queues, Before: before, After: after})
		w.queriedOnce.Do(func() { close(w.queried) })
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("polling for scheduled flow runs failed; retrying", "err", err)
			}
			return err
		}
		if page == 0 {
			// Only an answered poll counts for /health, as in Prefect,
			// where a failed query raises before _last_polled_time is set.
			w.lastPoll.Store(w.now().UnixNano())
			w.pollOnce1.Do(func() { close(w.polled) })
		}
		if !w.startRuns(ctx, runs, lk) {
			return nil
		}
		next, more := nextPollPage(runs, after)
		if !more {
			return nil
		}
		after = next
	}
	return nil
}

// nextPollPage says whether a poll's answer was a full page, so that more
// runs may be due, and from when the next page starts: the last run's
// scheduled time (the server's lower bound is inclusive; the runs at that
// very time are in flight by then and skipped). A page whose runs all
// share the lower bound cannot be paged past, and ends the poll.
func nextPollPage(runs []prefect.WorkerFlowRun, after time.Time) (time.Time, bool) {
	if len(runs) < pollPage {
		return time.Time{}, false
	}
	last := runs[len(runs)-1].FlowRun.NextScheduledStartTime
	if last == nil || !last.After(after) {
		return time.Time{}, false
	}
	return *last, true
}

// startRuns starts submitting each run not already in flight; it reports
// false when --limit stopped it.
func (w *Worker) startRuns(ctx context.Context, runs []prefect.WorkerFlowRun, lk *lookups) bool {
	for _, wr := range runs {
		fr := wr.FlowRun
		r := &run{id: fr.ID, fr: fr, poolID: wr.WorkPoolID, lk: lk}
		switch w.store.take(r, true) {
		case held:
			continue
		case full:
			w.log.Debug("flow run limit reached; the rest wait for the next poll", "limit", w.cfg.Limit)
			return false
		}
		w.runLog(fr.ID, prefect.LevelInfo, fmt.Sprintf("Worker '%s' submitting flow run '%s'", w.cfg.Name, fr.ID))
		if id := w.BackendID(); id != "" {
			w.runLog(fr.ID, prefect.LevelInfo, fmt.Sprintf("Running on worker id: %s", id))
		}
		w.runs.Add(1)
		go w.start(ctx, r)
	}
	return true
}
