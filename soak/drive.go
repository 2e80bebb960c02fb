package soak

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/prefect"
)

// drive creates the workload while the fault loops run, then waits for the
// runs to finish and the worker to clean up.
func (s *soak) drive(ctx context.Context) error {
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	var wg sync.WaitGroup
	loop := func(c context.Context, d time.Duration, f func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			every(c, d, func() { f(c) })
		}()
	}
	newDeps := make(chan string, 100000)
	loop(bg, 200*time.Millisecond, func(context.Context) { s.pollLedger(newDeps) })
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.readBack(bg, newDeps)
	}()
	loop(bg, time.Second, func(c context.Context) { s.watchdog(c) })
	faultCtx, stopFaults := context.WithCancel(bg)
	inj := newRateInjector(s.cfg.ARM5xxShare)
	loop(faultCtx, 250*time.Millisecond, func(context.Context) { s.inject5xx(inj) })
	loop(faultCtx, time.Second, func(c context.Context) { s.killOne(c) })

	events := s.schedule()
	interval := time.Duration(float64(time.Second) / s.cfg.Rate)
	next := time.Now()
	for i, item := range s.plan {
		for _, ev := range events[i] {
			ev(ctx)
		}
		if d := time.Until(next); d > 0 {
			if err := sleepCtx(ctx, d); err != nil {
				stopFaults()
				return err
			}
		}
		next = next.Add(interval)
		if time.Until(next) < -5*time.Second {
			next = time.Now() // fell behind (server restart): no catch-up burst
		}
		s.createRun(ctx, item)
		if i%50 == 49 {
			s.log.Info("workload", "created", i+1, "of", len(s.plan))
		}
	}
	stopFaults()
	s.emu.ClearFaults()
	s.emu.SetThrottleLimits(emulator.ThrottleLimits{})
	s.log.Info("workload created; waiting for every run to finish and be cleaned up", "settle", s.cfg.Settle)

	deadline := time.Now().Add(s.cfg.Settle)
	for time.Now().Before(deadline) {
		open, err := s.openRuns(ctx)
		if err == nil && open == 0 {
			break
		}
		if err := sleepCtx(ctx, 2*time.Second); err != nil {
			return err
		}
	}
	for time.Now().Before(deadline) {
		groups, deps, err := s.leftovers(ctx)
		if err == nil && len(groups) == 0 && len(deps) == 0 {
			break
		}
		if err := sleepCtx(ctx, 3*time.Second); err != nil {
			return err
		}
	}
	stopBG()
	wg.Wait()
	s.worker.signal(syscall.SIGTERM, 30*time.Second)
	s.pollLedger(nil)
	return nil
}

// schedule places the disruptive events on run indexes.
func (s *soak) schedule() map[int][]func(context.Context) {
	m := len(s.plan)
	ev := map[int][]func(context.Context){}
	at := func(i int, f func(context.Context)) {
		i = min(max(i, 1), m-1)
		ev[i] = append(ev[i], f)
	}
	for n, i := range Milestones(m, s.cfg.WorkerKills) {
		// The second restart comes back under a new name, as a supervisor
		// restarting a worker with the default random name would: the
		// runs in flight then wait for the old worker to show offline.
		rename := n == 1
		at(i, func(c context.Context) { s.killWorker(c, rename) })
	}
	for _, i := range Milestones(m, s.cfg.ServerRestarts) {
		at(i+m/8, s.restartServer)
	}
	for _, i := range Milestones(m, s.cfg.Bursts429) {
		at(i+m/(3*(s.cfg.Bursts429+1)), func(context.Context) { s.burst429() })
	}
	at(m*35/100, func(c context.Context) { s.throttleWindow(c) })
	if n := int(math.Round(s.cfg.ProvisionShare * float64(m))); n > 0 || s.cfg.ProvisionShare > 0 {
		n = max(n, 1)
		for k := 0; k < n; k++ {
			at(1+s.intN(max(m-2, 1)), func(context.Context) { s.failProvisioning() })
		}
	}
	return ev
}

func (s *soak) createRun(ctx context.Context, item Item) {
	spec, depID := s.specs[item], s.depIDs[item]
	for attempt := 0; attempt < 30; attempt++ {
		s.serverDown.RLock()
		t0 := time.Now()
		fr, err := s.pf.CreateFlowRunFromDeployment(ctx, depID, prefect.FlowRunCreate{Name: spec.RunName})
		s.serverDown.RUnlock()
		if d := time.Since(t0); d > 5*time.Second {
			s.log.Warn("the Prefect server was slow to create a flow run", "took", d.Round(time.Millisecond))
		}
		if err == nil {
			s.mu.Lock()
			s.created++
			s.kinds[fr.ID] = item
			s.mu.Unlock()
			return
		}
		s.log.Warn("creating a flow run failed; retrying", "kind", item.Kind, "err", err)
		if sleepCtx(ctx, time.Second) != nil {
			return
		}
	}
	s.log.Error("gave up creating a flow run", "kind", item.Kind)
}

func (s *soak) killWorker(ctx context.Context, rename bool) {
	w := s.worker
	s.log.Info("SIGKILL the worker", "incarnation", w.Starts, "rename", rename)
	w.signal(syscall.SIGKILL, 10*time.Second)
	_ = sleepCtx(ctx, time.Duration(1000+s.intN(2000))*time.Millisecond)
	if rename {
		for i, a := range w.args {
			if a == "--name" && i+1 < len(w.args) {
				w.args[i+1] += "-renamed"
			}
		}
	}
	if err := w.start(); err != nil {
		s.log.Error("restarting the worker failed", "err", err)
	}
	s.mu.Lock()
	s.faults.WorkerKills++
	s.restarts++
	s.mu.Unlock()
}

func (s *soak) restartServer(ctx context.Context) {
	s.log.Info("restarting the Prefect server")
	s.serverDown.Lock()
	defer s.serverDown.Unlock()
	start := time.Now()
	if err := s.srv.Restart(ctx); err != nil {
		s.log.Error("Prefect server restart failed", "err", err)
		return
	}
	s.log.Info("Prefect server back", "after", time.Since(start).Round(time.Millisecond))
	s.mu.Lock()
	s.faults.ServerRestarts++
	s.mu.Unlock()
}

func (s *soak) burst429() {
	times := 10 + s.intN(20)
	s.emu.InjectFault(emulator.Fault{Op: "*", Status: 429, Code: "SubscriptionRequestsThrottled",
		Message: InjectedMarker + ": a burst of 429", Times: times, RetryAfter: time.Duration(1+s.intN(3)) * time.Second})
	s.mu.Lock()
	s.faults.Bursts429++
	s.faults.Requests429 += times
	s.mu.Unlock()
}

// throttleWindow tightens ARM's buckets for ten seconds, as a busy
// subscription shared with other tools would.
func (s *soak) throttleWindow(ctx context.Context) {
	s.emu.SetThrottleLimits(emulator.ThrottleLimits{
		Reads:   emulator.Bucket{Size: 20, RefillPerSecond: 4},
		Writes:  emulator.Bucket{Size: 10, RefillPerSecond: 2},
		Deletes: emulator.Bucket{Size: 10, RefillPerSecond: 2},
	})
	s.mu.Lock()
	s.faults.ThrottleWindows++
	s.mu.Unlock()
	go func() {
		_ = sleepCtx(ctx, 10*time.Second)
		s.emu.SetThrottleLimits(emulator.ThrottleLimits{})
	}()
}

var provisioningFaults = []struct{ code, message string }{
	{"ServiceUnavailable", "The requested resource is not available in the location 'eastus' at this moment. Please retry with a different resource request or in another location. (soak)"},
	{"InternalServerError", "The container group provisioning failed on the node: the sandbox could not be created. (soak)"},
}

func (s *soak) failProvisioning() {
	f := provisioningFaults[s.intN(len(provisioningFaults))]
	s.emu.FailProvisioning(1, f.code, f.message)
	s.mu.Lock()
	s.faults.Provisioning++
	s.mu.Unlock()
}

var serverErrors = []struct {
	status int
	code   string
}{{500, "InternalServerError"}, {502, "BadGateway"}, {503, "ServiceUnavailable"}, {504, "GatewayTimeout"}}

func (s *soak) inject5xx(inj *rateInjector) {
	totals := map[string]int{}
	c := s.emu.Counters()
	for op := range c.ByOp {
		totals[op] = c.Count(op)
	}
	s.rndM.Lock()
	ops := inj.step(totals, s.rnd)
	s.rndM.Unlock()
	for _, op := range ops {
		e := serverErrors[s.intN(len(serverErrors))]
		s.emu.InjectFault(emulator.Fault{Op: op, Status: e.status, Code: e.code, Message: InjectedMarker + " on " + op, Times: 1})
	}
	s.mu.Lock()
	s.faults.ARM5xx += len(ops)
	s.mu.Unlock()
}

// killOne kills the container of one Running run when fewer than the
// target share have been killed so far.
func (s *soak) killOne(ctx context.Context) {
	s.mu.Lock()
	due := float64(len(s.killed)) < s.cfg.KillShare*float64(s.created)
	s.mu.Unlock()
	if !due || !s.serverDown.TryRLock() {
		return
	}
	runs, err := s.pf.FilterFlowRuns(ctx, prefect.FlowRunFilter{WorkPoolNames: []string{s.pool}, StateTypes: []string{"RUNNING"}, Limit: 200})
	s.serverDown.RUnlock()
	if err != nil {
		return
	}
	var cands []prefect.FlowRun
	s.mu.Lock()
	for _, r := range runs {
		if r.InfrastructurePID != "" && !s.killed[r.ID] {
			cands = append(cands, r)
		}
	}
	s.mu.Unlock()
	if len(cands) == 0 {
		return
	}
	r := cands[s.intN(len(cands))]
	_, group, ok := strings.Cut(r.InfrastructurePID, ":")
	if !ok {
		return
	}
	if err := s.emu.KillContainer(s.emu.Settings().ResourceGroup, group); err != nil {
		return // finished or not started yet
	}
	s.mu.Lock()
	s.killed[r.ID] = true
	s.faults.ContainersKilled++
	s.mu.Unlock()
}

// watchdog restarts the worker when it died on its own, and records it.
func (s *soak) watchdog(context.Context) {
	if gone, why := s.worker.exited(); gone {
		s.log.Error("worker died", "why", why)
		s.mu.Lock()
		s.workerExits = append(s.workerExits, why)
		s.restarts++
		s.mu.Unlock()
		if err := s.worker.start(); err != nil {
			s.log.Error("restarting the worker failed", "err", err)
		}
	}
}

// pollLedger feeds the request log to the ledger and queues every newly
// created deployment record for reading back.
func (s *soak) pollLedger(newDeps chan<- string) {
	snap := s.emu.RequestLog()
	s.mu.Lock()
	before := len(s.ledger.Deployments)
	s.ledger.Add(snap)
	fresh := append([]string(nil), s.ledger.Deployments[before:]...)
	s.mu.Unlock()
	if newDeps == nil {
		return
	}
	for _, d := range fresh {
		select {
		case newDeps <- d:
		default:
		}
	}
}

// readBack reads every new deployment record (GET and exportTemplate) and
// its container group, and searches them for secrets.
func (s *soak) readBack(ctx context.Context, names <-chan string) {
	for {
		var name string
		select {
		case <-ctx.Done():
			return
		case name = <-names:
		}
		get, export, err := s.raw.deployment(ctx, name)
		if errors.Is(err, errGone) {
			s.mu.Lock()
			s.vanished++
			s.mu.Unlock()
			continue
		}
		var hits []SecretHit
		if get != nil {
			hits = append(hits, s.scan.Scan("deployment GET", name, get)...)
		}
		if export != nil {
			hits = append(hits, s.scan.Scan("deployment exportTemplate", name, export)...)
		}
		group := strings.TrimPrefix(name, "prefect-")
		if body, gerr := s.raw.group(ctx, group); gerr == nil {
			hits = append(hits, s.scan.Scan("container group GET", group, body)...)
		}
		s.mu.Lock()
		if err != nil && ctx.Err() == nil {
			s.unscanned[name] = true
			s.log.Warn("could not read a deployment record back", "deployment", name, "err", err)
		} else if err == nil {
			s.scanned[name] = true
		}
		s.secretHits = append(s.secretHits, hits...)
		s.mu.Unlock()
	}
}

// openRuns counts runs of the soak's pools that are not terminal.
func (s *soak) openRuns(ctx context.Context) (int, error) {
	runs, err := s.allRuns(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range runs {
		if !Terminal(r.StateType) {
			n++
		}
	}
	return n, nil
}

func (s *soak) allRuns(ctx context.Context) ([]prefect.FlowRun, error) {
	var out []prefect.FlowRun
	for off := 0; ; off += 200 {
		page, err := s.pf.FilterFlowRuns(ctx, prefect.FlowRunFilter{WorkPoolNames: []string{s.pool},
			Sort: "ID_DESC", Limit: 200, Offset: off})
		if err != nil {
			return nil, fmt.Errorf("list flow runs: %w", err)
		}
		out = append(out, page...)
		if len(page) < 200 {
			return out, nil
		}
	}
}

// leftovers lists container groups and prefect-* deployment records that
// are not kept.
func (s *soak) leftovers(ctx context.Context) (groups, deps []string, err error) {
	rg := s.emu.Settings().ResourceGroup
	gs, err := s.az.ListGroups(ctx, rg)
	if err != nil {
		return nil, nil, err
	}
	ds, err := s.az.ListDeployments(ctx, rg)
	if err != nil {
		return nil, nil, err
	}
	kept := s.keptGroups()
	for _, g := range gs {
		if !kept[strings.ToLower(g.Name)] {
			groups = append(groups, g.Name)
		}
	}
	for _, d := range ds {
		if grp, ok := strings.CutPrefix(strings.ToLower(d.Name), "prefect-"); ok && !kept[grp] {
			deps = append(deps, d.Name)
		}
	}
	sort.Strings(groups)
	sort.Strings(deps)
	return groups, deps, nil
}

// keptGroups are the groups of keep_container_group runs, by the group
// name each run's infrastructure_pid records.
func (s *soak) keptGroups() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := map[string]bool{}
	for _, d := range s.ledger.Deployments {
		group := strings.TrimPrefix(strings.ToLower(d), "prefect-")
		if id, ok := FlowRunOfGroup(group); ok && s.kinds[id].Kind == KindKeepGroup {
			kept[group] = true
		}
	}
	return kept
}
