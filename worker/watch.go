package worker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/internal/backoff"
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
	outSubmitFailed                       // the deployment failed, or the group did not start in time
)

type outcome struct {
	kind  outcomeKind
	code  int32
	group *aci.Group
	err   error // outSubmitFailed: why, as a submission error
}

// terminalGrace is how long a run final in Prefect may keep its container
// running (the engine shutting down) before the worker stops waiting.
const terminalGrace = 2 * time.Minute

// maxReadsInFlight bounds concurrent group reads of one round.
const maxReadsInFlight = 16

// prefectFilterChunk is the most flow runs one filter call returns.
const prefectFilterChunk = 200

// watcher watches every in-flight run at once: one Prefect query and one
// list of container groups per resource group per round (and one of
// deployment records while a run there provisions), and group reads only
// where they tell something new, or, at growing intervals, for a death
// nothing else reports.
type watcher struct {
	w *Worker

	mu   sync.Mutex
	runs map[string]*watched
	quit chan struct{}
	wake chan struct{} // an announced state change: a round is due
	once sync.Once
}

type watched struct {
	r     *run
	st    watchState
	start time.Time // the run's age is counted from here (checkSchedule)
	// nextGet is when the group is next read for a death nothing else
	// reports.
	nextGet time.Time
	// provisioning: the lists follow the run's deployment until its group
	// has started; no routine reads meanwhile.
	provisioning bool
	// running: its flow has reported Running (or more); until then a
	// container that died has no engine to say so, and is read sooner.
	running bool
	read    bool // its group has had a routine read
	killing atomic.Bool
}

// startCheckFirst is when a run whose flow has not reported Running yet
// has its group read first: a container that exits before its engine
// reports (a wrong command, an image without Prefect) is seen then, not
// after CheckFirst.
const startCheckFirst = 30 * time.Second

// checks is the pacing of a run's routine group reads (checkSchedule).
func (w *Worker) checks(running bool) checkSchedule {
	s := checkSchedule{First: w.cfg.CheckFirst, MaxGap: w.cfg.CheckMaxGap}
	if !running {
		s.First = min(s.First, startCheckFirst)
	}
	return s
}

func newWatcher(w *Worker) *watcher {
	return &watcher{w: w, runs: map[string]*watched{}, quit: make(chan struct{}), wake: make(chan struct{}, 1)}
}

func (wt *watcher) add(r *run) {
	r.submitted.Store(true) // or adopted: its end counts from now on
	// An adopted run's age counts from when its flow first ran, if that
	// is known and earlier: a run that outlived its worker is not read as
	// often as a new one.
	start := wt.w.now()
	if st := r.fr.StartTime; st != nil && st.Before(start) {
		start = *st
	}
	wd := &watched{r: r, start: start, provisioning: r.phase == phaseProvisioning}
	wd.nextGet = wt.w.checks(false).next(start, time.Time{})
	wt.mu.Lock()
	wt.runs[r.id] = wd
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
		wd.r.tell(seen{final: &o, group: o.group})
	}
}

func (wt *watcher) stop() { wt.once.Do(func() { close(wt.quit) }) }

// loop runs a round every watch interval on the worker's clock. A wake
// brings the round of the current interval forward (after wakeSettle)
// instead of adding one: the tick that ends an interval whose round
// already ran is skipped, so that a stream of events never makes rounds,
// and the Prefect and Azure reads they cost, more frequent than the
// interval. A round that overran its interval is followed by the next at
// once, as a ticker's pending tick would be.
func (wt *watcher) loop(ctx context.Context) {
	clock, interval := wt.w.cfg.Clock, wt.w.cfg.WatchInterval
	next := clock.Now().Add(interval)
	var settle backoff.Timer // a wake's settle, while pending
	stopSettle := func() {
		if settle != nil {
			settle.Stop()
			settle = nil
		}
	}
	defer stopSettle()
	var g roundGate
	for {
		t := clock.NewTimer(next.Sub(clock.Now()))
		var settled <-chan time.Time
		if settle != nil {
			settled = settle.C()
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wt.quit:
			t.Stop()
			return
		case <-t.C():
			next = next.Add(interval)
			if now := clock.Now(); next.Before(now) {
				next = now
			}
			run, served := g.tick()
			if served {
				stopSettle()
			}
			if !run {
				continue
			}
		case <-wt.wake:
			t.Stop()
			if g.wake() {
				settle = clock.NewTimer(wt.wakeSettle())
			}
			continue
		case <-settled:
			t.Stop()
			settle = nil
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

	// Prefect and ARM side by side: a slow Prefect must not delay what the
	// lists observe (a run's start, judged against its deadline).
	var (
		states    map[string]prefect.FlowRun
		gone      map[string]bool
		prefectOK bool
		read      = make(chan struct{})
	)
	go func() {
		defer close(read)
		states, gone, prefectOK = wt.prefectStates(ctx, runs)
	}()
	lists, deps, reads := wt.listTargets(ctx, runs)
	<-read

	var news, rest, failed []*watched
	for _, wd := range runs {
		if wd.killing.Load() {
			continue
		}
		fr, found := states[wd.r.id]
		o := observation{PrefectKnown: prefectOK && (found || gone[wd.r.id])}
		if o.PrefectKnown {
			o.RunMissing = !found
			o.StateType = fr.StateType
			if fr.State != nil && fr.State.Timestamp != nil {
				o.StateAt = *fr.State.Timestamp
			}
			if found && isTerminal(fr.StateType) {
				// Counted when first seen final, not after the container
				// has ended and been removed: a round or two sooner.
				w.observeFinished(wd.r, fr.StateType)
			}
			if found && !wd.running && engineReported(fr.StateType) {
				// Its engine runs and will report how it ends: the
				// first routine read moves out to CheckFirst.
				wd.running = true
				if !wd.read {
					wd.nextGet = w.checks(true).next(wd.start, time.Time{})
				}
			}
		}
		l, listed := lists[wd.r.tgt.listKey()]
		if listed {
			o.ListKnown = true
			g, in := l.groups[wd.r.group]
			o.InList, o.Provisioning = in, g.ProvisioningState
		}
		if wd.provisioning {
			po := provObservation{ListKnown: o.ListKnown, InList: o.InList, GroupState: o.Provisioning,
				StartBy: wd.r.startBy, ListedAt: l.at, Now: now}
			if o.PrefectKnown && !o.RunMissing {
				po.StateType = o.StateType
			}
			if m := deps[wd.r.tgt.listKey()]; m != nil {
				d, in := m[strings.ToLower(wd.r.deploymentName())]
				po.DeploymentsKnown, po.DeploymentListed, po.DeploymentState = true, in, d.ProvisioningState
			}
			switch provisioning(po) {
			case provWait:
				if !o.RunMissing {
					continue
				}
			case provDone:
				wd.provisioning = false
				wd.r.tell(seen{started: true})
			case provReadGroup:
				wd.provisioning = false
				news = append(news, wd)
				continue
			case provDeployFailed:
				failed = append(failed, wd)
				continue
			case provTimedOut:
				wt.deliver(wd, outcome{kind: outSubmitFailed, err: wd.r.startTimedOut()})
				continue
			}
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
			wt.startKill(wd)
		case actRead:
			news = append(news, wd)
		default:
			rest = append(rest, wd)
		}
	}

	plan := readPlan{ReadsPerSecond: w.azure.readsPerSecond(), Share: w.cfg.BackgroundShare, Interval: w.cfg.WatchInterval}
	capacity := plan.perRound() - reads - len(news) - len(failed)
	next := make([]time.Time, len(rest))
	for i, wd := range rest {
		next[i] = wd.nextGet
	}
	toRead := news
	for _, i := range pickDue(next, now, capacity) {
		toRead = append(toRead, rest[i])
	}
	period := plan.period(len(runs))
	reqs := newSideBySide()
	for _, wd := range toRead {
		reqs.do(func() { wt.read(ctx, wd, now, period) })
	}
	for _, wd := range failed {
		reqs.do(func() { wt.deploymentFailed(ctx, wd) })
	}
	reqs.wait()
	return true
}

// sideBySide runs a round's requests concurrently, at most
// maxReadsInFlight at once.
type sideBySide struct {
	wg  sync.WaitGroup
	sem chan struct{}
}

func newSideBySide() *sideBySide {
	return &sideBySide{sem: make(chan struct{}, maxReadsInFlight)}
}

// do starts f once fewer than maxReadsInFlight are running.
func (s *sideBySide) do(f func()) {
	s.wg.Add(1)
	s.sem <- struct{}{}
	go func() {
		defer func() { <-s.sem; s.wg.Done() }()
		f()
	}()
}

func (s *sideBySide) wait() { s.wg.Wait() }

// groupList is one resource group's container groups, by name, and when
// the list was asked for.
type groupList struct {
	groups map[string]aci.GroupSummary
	at     time.Time
}

// listTargets lists the container groups of every resource group with runs
// in flight, and the deployment records of those where a run provisions (a
// deployment that fails before its group exists shows only there), side by
// side so that a slow one does not hold up the others. A failed list is
// missing from the answer; reads is how many were asked.
func (wt *watcher) listTargets(ctx context.Context, runs []*watched) (lists map[string]groupList, deps map[string]map[string]aci.DeploymentSummary, reads int) {
	targets := map[string]*target{}
	provisioning := map[string]bool{}
	for _, wd := range runs {
		key := wd.r.tgt.listKey()
		targets[key] = wd.r.tgt
		if wd.provisioning {
			provisioning[key] = true
		}
	}
	lists = make(map[string]groupList, len(targets))
	deps = make(map[string]map[string]aci.DeploymentSummary, len(provisioning))
	var mu sync.Mutex
	reqs := newSideBySide()
	failed := func(what, rg string, err error) {
		if ctx.Err() == nil {
			wt.w.log.Warn("listing "+what+" failed; retrying next round", "resource_group", rg, "err", err)
		}
	}
	for key, t := range targets {
		reqs.do(func() {
			at := wt.w.now()
			groups, err := t.client.ListGroups(ctx, t.rg)
			if err != nil {
				failed("container groups", t.rg, err)
				return
			}
			m := make(map[string]aci.GroupSummary, len(groups))
			for _, g := range groups {
				m[g.Name] = g
			}
			mu.Lock()
			lists[key] = groupList{groups: m, at: at}
			mu.Unlock()
		})
		if !provisioning[key] {
			continue
		}
		reqs.do(func() {
			ds, err := t.client.ListDeployments(ctx, t.rg)
			if err != nil {
				failed("deployments", t.rg, err)
				return
			}
			m := make(map[string]aci.DeploymentSummary, len(ds))
			for _, d := range ds {
				m[strings.ToLower(d.Name)] = d
			}
			mu.Lock()
			deps[key] = m
			mu.Unlock()
		})
	}
	reqs.wait()
	return lists, deps, len(targets) + len(provisioning)
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
	r.tell(seen{group: g})
	// Never sooner than the read budget's pace allows.
	wd.read = true
	wd.nextGet = later(wt.w.checks(wd.running).next(wd.start, now), now.Add(period))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// deploymentFailed reads why a run's deployment failed and ends the run
// with Azure's reason.
func (wt *watcher) deploymentFailed(ctx context.Context, wd *watched) {
	r := wd.r
	res, _, err := r.tgt.client.PollDeployment(ctx, r.tgt.rg, r.deploymentName())
	if err != nil || res == nil {
		if err != nil && ctx.Err() == nil {
			wt.w.log.Warn("reading the failed deployment failed; retrying next round", "flow_run_id", r.id, "err", err)
		}
		return // the next round looks again
	}
	wt.deliver(wd, outcome{kind: outSubmitFailed, err: wt.w.provisioningFailed(ctx, r, res)})
}

// startKill tells a Cancelling run past its grace period to remove its
// group. The watcher leaves the run alone meanwhile: the run's goroutine
// either ends it or, when the removal failed, asks to be watched again
// (killFailed).
func (wt *watcher) startKill(wd *watched) {
	wd.killing.Store(true)
	wd.r.tell(seen{kill: true})
}

// killFailed puts a run whose group could not be removed back in the
// rounds, which tell it again.
func (wt *watcher) killFailed(id string) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	if wd, ok := wt.runs[id]; ok {
		wd.killing.Store(false)
	}
}
