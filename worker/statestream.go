package worker

import (
	"context"
	"strings"
	"time"

	"github.com/aciworker/aciworker/prefect"
)

// followEvents listens to Prefect's event stream. State changes of the
// runs being watched make a run's final state known (and counted) when
// Prefect announces it rather than at the next watch round, and bring that
// round sooner; a pool resumed or a run of the pool scheduled wakes the
// poller (pollWake). The rounds and polls stay the source of truth: an
// event missed while the stream is down only costs that promptness. When
// the stream cannot be had, the worker says so once and goes on with the
// rounds and polls alone.
func (w *Worker) followEvents(ctx context.Context) {
	err := w.pf.StreamEvents(ctx, prefect.StreamOptions{
		Connected: func() { w.log.Debug("following flow run states over Prefect's event stream") },
	}, func(ev prefect.Event) {
		if st, ok := ev.FlowRunState(); ok {
			w.watch.notice(st)
		}
		if pool, _ := w.poolSnapshot(); pool != nil && pollWake(ev, pool.ID, w.cfg.Queues) {
			select {
			case w.pollWake <- struct{}{}:
			default: // a wake is already pending
			}
		}
	})
	if ctx.Err() != nil {
		return
	}
	w.log.Warn("Prefect's event stream is unavailable; final states are seen by the watch round alone, and scheduled runs by the polls alone",
		"watch_interval", w.cfg.WatchInterval, "query_interval", w.cfg.QueryInterval, "err", err)
}

// notice takes a state change Prefect announced. A run of this worker
// that is final is counted finished at once, watched already or still
// between Azure's acceptance and its first watch (a quick flow ends
// there); a final or Cancelling run that is watched wakes the watcher.
// Other runs and states are not this worker's business.
func (wt *watcher) notice(st prefect.FlowRunState) {
	final := isTerminal(st.StateType)
	if !final && !strings.EqualFold(st.StateType, prefect.StateCancelling) {
		return
	}
	wt.mu.Lock()
	wd := wt.runs[st.FlowRunID]
	wt.mu.Unlock()
	if final {
		if r := wt.w.store.get(st.FlowRunID); r != nil && r.submitted.Load() {
			wt.w.observeFinished(r, st.StateType)
		}
	}
	if wd != nil {
		wt.poke()
	}
}

// poke asks for a round soon.
func (wt *watcher) poke() {
	select {
	case wt.wake <- struct{}{}:
	default: // a wake is already pending
	}
}

// maxWakeSettle is how long a woken round waits at most: an engine that
// reported its final state takes a moment to exit, and a round that came
// at once would mostly find its container still running.
const maxWakeSettle = time.Second

// wakeSettle is the wait between a wake and its round.
func (wt *watcher) wakeSettle() time.Duration {
	return min(maxWakeSettle, wt.w.cfg.WatchInterval/2)
}

// roundGate decides when the watcher's rounds run: one per watch interval,
// at the tick that ends it, or earlier (a settle after a wake) in which
// case that tick is skipped. Wakes thus move rounds, never add them.
type roundGate struct {
	settling bool // a wake waits for its settle
	woken    bool // this interval's round already ran, early
}

// tick: an interval ended. run: its round runs now; served: a pending
// wake is served by it (stop the settle timer).
func (g *roundGate) tick() (run, served bool) {
	if g.woken {
		g.woken = false
		return false, false
	}
	served = g.settling
	g.settling = false
	return true, served
}

// wake: a state change was announced. arm: start the settle timer.
func (g *roundGate) wake() (arm bool) {
	if g.woken || g.settling {
		return false
	}
	g.settling = true
	return true
}

// settled: the settle after a wake is over; the round runs now.
func (g *roundGate) settled() {
	g.settling, g.woken = false, true
}
