package worker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/prefect"
)

// outcomeKind is how a watched run ended.
type outcomeKind int

const (
	outExited          outcomeKind = iota // the container terminated (code known)
	outVanished                           // the group disappeared before it ended
	outCancelled                          // the worker removed it on cancellation
	outRunGone                            // the flow run was deleted from Prefect
	outAbandoned                          // final in Prefect, the container never ended in time
	outProvisionFailed                    // the group failed to provision and never ran
)

type outcome struct {
	kind  outcomeKind
	code  int32
	group *aci.Group
}

// terminalGrace is how long a run final in Prefect may keep its container
// running (the engine shutting down) before the worker stops waiting.
const terminalGrace = 2 * time.Minute

// maxReadsInFlight bounds concurrent group reads of one round.
const maxReadsInFlight = 16

// prefectFilterChunk is the most flow runs one filter call returns.
const prefectFilterChunk = 200

// watcher watches every in-flight run at once: one Prefect query and one
// list per resource group per round, and group reads only where they tell
// something new or where the read budget has room for routine checks.
type watcher struct {
	w *Worker

	mu    sync.Mutex
	runs  map[string]*watched
	quit  chan struct{}
	wake  chan struct{} // an announced state change: a round is due
	once  sync.Once
	kills sync.WaitGroup // kill goroutines, joined at shutdown
}

type watched struct {
	r       *run
	st      watchState
	nextGet time.Time
	killing atomic.Bool
}

func newWatcher(w *Worker) *watcher {
	return &watcher{w: w, runs: map[string]*watched{}, quit: make(chan struct{}), wake: make(chan struct{}, 1)}
}

func (wt *watcher) add(r *run) {
	r.submitted.Store(true) // or adopted: its end counts from now on
	wt.mu.Lock()
	// The first routine read comes one round later: provisioning just read
	// the group.
	wt.runs[r.id] = &watched{r: r, nextGet: wt.w.now().Add(wt.w.cfg.WatchInterval)}
	wt.mu.Unlock()
	if r.finishCounted.Load() {
		wt.poke() // announced final before it was watched
	}
}

func (wt *watcher) remove(id string) {
	wt.mu.Lock()
	delete(wt.runs, id)
	wt.mu.Unlock()
}

// deliver hands a run its outcome once and stops watching it.
func (wt *watcher) deliver(wd *watched, o outcome) {
	wt.mu.Lock()
	_, ok := wt.runs[wd.r.id]
	delete(wt.runs, wd.r.id)
	wt.mu.Unlock()
	if ok {
		wd.r.outcome <- o
	}
}

func (wt *watcher) stop() { wt.once.Do(func() { close(wt.quit) }) }

// loop runs a round every watch interval. A wake brings the round of the
// current interval forward (after wakeSettle) instead of adding one: the
// tick that ends an interval whose round already ran is skipped, so that
// a stream of events never makes rounds, and the Prefect and Azure reads
// they cost, more frequent than the interval.
func (wt *watcher) loop(ctx context.Context) {
	t := time.NewTicker(wt.w.cfg.WatchInterval)
	defer t.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	var g roundGate
	for {
		select {
		case <-ctx.Done():
			return
		case <-wt.quit:
			return
		case <-t.C:
			run, served := g.tick()
			if served {
				settle.Stop()
			}
			if !run {
				continue
			}
		case <-wt.wake:
			if g.wake() {
				settle.Reset(wt.wakeSettle())
			}
			continue
		case <-settle.C:
			g.settled()
		}
		start := time.Now()
		if wt.round(ctx) {
			wt.w.cfg.Observer.WatchRound(time.Since(start))
		}
	}
}

func (wt *watcher) snapshot() []*watched {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	out := make([]*watched, 0, len(wt.runs))
	for _, wd := range wt.runs {
		out = append(out, wd)
	}
	return out
}

// minRoundTimeout bounds one watch round (with 10 watch intervals, if
// longer): every Azure call has its own time limits, and this one ends a
// round whatever they add up to, so one stalled answer costs a round, not
// the watch.
const minRoundTimeout = 2 * time.Minute

// round is one watch round over every run in flight; it reports whether
// there was anything to watch. Kills it starts outlive it, on parent.
func (wt *watcher) round(parent context.Context) bool {
	runs := wt.snapshot()
	if len(runs) == 0 {
		return false
	}
	w := wt.w
	now := w.now()
	ctx, cancel := context.WithTimeout(parent, max(minRoundTimeout, 10*w.cfg.WatchInterval))
	defer cancel()

	states, gone, prefectOK := wt.prefectStates(ctx, runs)
	lists, reads := wt.listTargets(ctx, runs)

	var news, rest []*watched
	for _, wd := range runs {
		if wd.killing.Load() {
			continue
		}
		fr, found := states[wd.r.id]
		o := observation{PrefectKnown: prefectOK && (found || gone[wd.r.id])}
		if o.PrefectKnown {
			o.RunMissing = !found
			o.StateType = fr.StateType
			if found && isTerminal(fr.StateType) {
				// Counted when first seen final, not after the container
				// has ended and been removed: a round or two sooner.
				w.observeFinished(wd.r, fr.StateType)
			}
		}
		if m, ok := lists[wd.r.tgt.listKey()]; ok {
			o.ListKnown = true
			g, in := m[wd.r.group]
			o.InList, o.Provisioning = in, g.ProvisioningState
		}
		grace := w.cfg.CancelGrace
		if w.cfg.DisableCancellation {
			grace = -1
		}
		switch decide(now, o, &wd.st, grace) {
		case actRunGone:
			w.log.Info("flow run was deleted; removing its container group", "flow_run_id", wd.r.id)
			wt.deliver(wd, outcome{kind: outRunGone})
		case actKill:
			wt.startKill(parent, wd)
		case actRead:
			news = append(news, wd)
		default:
			rest = append(rest, wd)
		}
	}

	plan := readPlan{ReadsPerSecond: w.azure.readsPerSecond(), Share: w.cfg.BackgroundShare, Interval: w.cfg.WatchInterval}
	capacity := plan.perRound() - reads - len(news)
	next := make([]time.Time, len(rest))
	for i, wd := range rest {
		next[i] = wd.nextGet
	}
	toRead := news
	for _, i := range pickDue(next, now, capacity) {
		toRead = append(toRead, rest[i])
	}
	period := plan.period(len(runs))
	sem := make(chan struct{}, maxReadsInFlight)
	var wg sync.WaitGroup
	for _, wd := range toRead {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			wt.read(ctx, wd, now, period)
		}()
	}
	wg.Wait()
	return true
}

// listTargets lists the container groups of every resource group with runs
// in flight, side by side so that a slow one does not hold up the others.
// A failed list is missing from the answer; reads is how many were asked.
func (wt *watcher) listTargets(ctx context.Context, runs []*watched) (lists map[string]map[string]aci.GroupSummary, reads int) {
	targets := map[string]*target{}
	for _, wd := range runs {
		targets[wd.r.tgt.listKey()] = wd.r.tgt
	}
	lists = make(map[string]map[string]aci.GroupSummary, len(targets))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxReadsInFlight)
	for key, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			groups, err := t.client.ListGroups(ctx, t.rg)
			if err != nil {
				if ctx.Err() == nil {
					wt.w.log.Warn("listing container groups failed; retrying next round", "resource_group", t.rg, "err", err)
				}
				return
			}
			m := make(map[string]aci.GroupSummary, len(groups))
			for _, g := range groups {
				m[g.Name] = g
			}
			mu.Lock()
			lists[key] = m
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lists, len(targets)
}

// prefectStates reads the state of every watched run.
func (wt *watcher) prefectStates(ctx context.Context, runs []*watched) (states map[string]prefect.FlowRun, gone map[string]bool, ok bool) {
	ids := make([]string, len(runs))
	for i, wd := range runs {
		ids[i] = wd.r.id
	}
	states, gone, err := wt.w.readRuns(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			wt.w.log.Warn("reading flow run states failed; retrying next round", "err", err)
		}
		return nil, nil, false
	}
	return states, gone, true
}

// read reads one group and decides whether its run is over.
func (wt *watcher) read(ctx context.Context, wd *watched, now time.Time, period time.Duration) {
	r := wd.r
	g, err := r.tgt.client.GetGroup(ctx, r.tgt.rg, r.group)
	switch {
	case errors.Is(err, aci.ErrNotFound):
		wt.deliver(wd, outcome{kind: outVanished})
		return
	case err != nil:
		if ctx.Err() == nil {
			wt.w.log.Warn("reading the container group failed; retrying next round", "flow_run_id", r.id, "err", err)
		}
		wd.nextGet = now
		return
	}
	r.noteContainer(g)
	if code, done := g.Outcome(); done {
		wt.deliver(wd, outcome{kind: outExited, code: code, group: g})
		return
	}
	// A group whose provisioning failed never starts: typically one a
	// worker was killed while submitting, then adopted by another.
	if strings.EqualFold(g.ProvisioningState, "Failed") && !g.Started() {
		wt.deliver(wd, outcome{kind: outProvisionFailed, group: g})
		return
	}
	if !wd.st.TerminalSince.IsZero() && now.Sub(wd.st.TerminalSince) > terminalGrace {
		wt.deliver(wd, outcome{kind: outAbandoned, group: g})
		return
	}
	wd.nextGet = now.Add(period)
}

// startKill removes a Cancelling run's group in the background: a delete
// waits for Azure, and the round goes on. waitKills joins them.
func (wt *watcher) startKill(ctx context.Context, wd *watched) {
	wd.killing.Store(true)
	wt.kills.Add(1)
	go func() {
		defer wt.kills.Done()
		wt.kill(ctx, wd)
	}()
}

// waitKills waits for the kills in progress (they end with ctx).
func (wt *watcher) waitKills() { wt.kills.Wait() }

// kill removes a Cancelling run's group the prefect-azure way (stop when
// kept, else delete) and marks the run Cancelled.
func (wt *watcher) kill(ctx context.Context, wd *watched) {
	w, r := wt.w, wd.r
	var err error
	if r.cfg.KeepGroup {
		err = r.tgt.client.StopGroup(ctx, r.tgt.rg, r.group)
	} else {
		err = r.tgt.client.DeleteGroup(ctx, r.tgt.rg, r.group)
	}
	if err != nil && !errors.Is(err, aci.ErrNotFound) {
		if ctx.Err() == nil {
			w.runLog(r.id, prefect.LevelWarning, "Could not remove the container group of the cancelled flow run; retrying: "+err.Error())
		}
		wd.killing.Store(false)
		return
	}
	if errors.Is(err, aci.ErrNotFound) {
		w.log.Debug("container group already gone on cancellation", "flow_run_id", r.id)
	}
	if err := w.markCancelled(ctx, r.id, "Flow run was cancelled; the worker removed its container group."); err != nil {
		w.log.Warn("marking the flow run cancelled failed; retrying", "flow_run_id", r.id, "err", err)
		wd.killing.Store(false)
		return
	}
	w.runLog(r.id, prefect.LevelInfo, "Cancelled flow run '"+r.id+"'")
	wt.deliver(wd, outcome{kind: outCancelled})
}
