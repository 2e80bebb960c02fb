package worker

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/prefect"
)

// staleAfter is how long a run must have been final before reconcile
// removes a group that another live worker may still be finishing.
const staleAfter = 2 * time.Minute

func (w *Worker) reconcileLoop(ctx context.Context) {
	w.every(ctx, w.cfg.ReconcileInterval, true, func(ctx context.Context) error {
		return w.reconcileOnce(ctx)
	})
}

// reconcileTargets are the resource groups to sweep now: those runs of
// this worker use (or just used), plus the pool's default and the worker
// environment's, less those waiting out failures.
func (w *Worker) reconcileTargets(ctx context.Context, now time.Time) []*target {
	_, template := w.poolSnapshot()
	vals := withDefaults(template, nil)
	sub, _ := vals["subscription_id"].(string)
	rg, _ := vals["resource_group_name"].(string)
	if sub != "" && rg != "" && !strings.Contains(sub+rg, "{{") {
		if err := w.azure.pin(ctx, sub, rg); err != nil {
			w.log.Warn("the pool's default resource group cannot be swept", "resource_group", rg, "err", err)
		}
	}
	if sub, rg := w.environ["AZURE_SUBSCRIPTION_ID"], w.environ["AZURE_RESOURCE_GROUP"]; sub != "" && rg != "" {
		if err := w.azure.pin(ctx, sub, rg); err != nil {
			w.log.Warn("the environment's resource group cannot be swept", "resource_group", rg, "err", err)
		}
	}
	return w.azure.due(now)
}

// reconcileOnce removes this pool's container groups whose runs are final
// or gone (kept groups excepted) and its deployment records whose runs are
// final or gone (see reconcileRecords: a missing group proves nothing). A
// resource group that fails backs off on its own; the loop keeps its pace
// for the others.
func (w *Worker) reconcileOnce(ctx context.Context) error {
	select {
	case <-w.synced:
	default:
		return nil
	}
	start := time.Now()
	defer func() { w.cfg.Observer.Reconciled(time.Since(start)) }()
	for _, t := range w.reconcileTargets(ctx, w.now()) {
		err := w.reconcileTarget(ctx, t)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			w.log.Warn("reconcile of a resource group failed; it waits before the next try", "resource_group", t.rg, "subscription_id", t.client.SubscriptionID(), "err", err)
		}
		w.azure.swept(t, err, w.now(), w.cfg.ReconcileInterval)
	}
	return nil
}

func (w *Worker) reconcileTarget(ctx context.Context, t *target) error {
	groups, err := t.client.ListGroups(ctx, t.rg)
	if err != nil {
		return err
	}
	ours := map[string]aci.GroupSummary{}
	var ids []string
	for _, g := range groups {
		id := g.Tags[TagFlowRunID]
		if g.Tags[TagPool] != w.cfg.Pool || id == "" || w.store.owns(id) {
			continue
		}
		ours[g.Name] = g
		ids = append(ids, id)
	}
	if len(ours) > 0 {
		states, gone, err := w.readRuns(ctx, ids)
		if err != nil {
			return err
		}
		online, err := w.onlineWorkers(ctx)
		if err != nil {
			return err
		}
		now := w.now()
		for name, g := range ours {
			id := g.Tags[TagFlowRunID]
			fr, found := states[id]
			if !found && !gone[id] {
				continue // unknown: look again next round
			}
			if w.store.owns(id) || !staleRun(&fr, found, w.cfg.Name, online, now) {
				continue
			}
			if g.Tags[TagKeep] == "true" {
				continue
			}
			if err := t.client.DeleteGroup(ctx, t.rg, name); err != nil {
				w.log.Warn("reconcile: deleting a leftover container group failed", "group", name, "err", err)
				continue
			}
			w.cfg.Observer.ReconcileRemoved("group")
			w.log.Info("reconcile: deleted leftover container group", "group", name, "flow_run_id", id, "flow_run_state", stateOrGone(&fr, found))
		}
	}
	return w.reconcileRecords(ctx, t)
}

// reconcileRecords removes this pool's `prefect-*` deployment records
// whose runs are final or gone. A record's group being absent proves
// nothing: a record that has just succeeded may name a group a snapshot
// taken a moment earlier did not yet hold, and deleting the record of a
// run another worker is provisioning makes that worker deploy again.
func (w *Worker) reconcileRecords(ctx context.Context, t *target) error {
	deps, err := t.client.ListDeployments(ctx, t.rg)
	if err != nil {
		return err
	}
	var cands []aci.DeploymentSummary
	var candIDs []string
	for _, d := range deps {
		if !strings.HasPrefix(d.Name, "prefect-") {
			continue
		}
		if p := d.Tags[TagPool]; p != "" && p != w.cfg.Pool {
			continue
		}
		switch strings.ToLower(d.ProvisioningState) {
		case "succeeded", "failed", "canceled":
		default:
			continue // still deploying: its worker is at it
		}
		id := recordRunID(d)
		if id == "" || w.store.owns(id) {
			continue
		}
		cands = append(cands, d)
		candIDs = append(candIDs, id)
	}
	if len(cands) == 0 {
		return nil
	}
	runs, gone, err := w.readRuns(ctx, candIDs)
	if err != nil {
		return err
	}
	online, err := w.onlineWorkers(ctx)
	if err != nil {
		return err
	}
	now := w.now()
	for i, d := range cands {
		fr, found := runs[candIDs[i]]
		if !found && !gone[candIDs[i]] {
			continue // unknown: look again next round
		}
		if d.Tags[TagPool] != w.cfg.Pool && (!found || fr.WorkPoolName != w.cfg.Pool) {
			continue // not provably this pool's
		}
		if w.store.owns(candIDs[i]) || !staleRun(&fr, found, w.cfg.Name, online, now) {
			continue
		}
		if err := t.client.DeleteDeployment(ctx, t.rg, d.Name); err != nil {
			w.log.Warn("reconcile: deleting a leftover deployment record failed", "deployment", d.Name, "err", err)
			continue
		}
		w.cfg.Observer.ReconcileRemoved("record")
		w.log.Info("reconcile: deleted leftover deployment record", "deployment", d.Name, "flow_run_id", candIDs[i], "flow_run_state", stateOrGone(&fr, found))
	}
	return nil
}

// readRuns reads flow runs by id, 200 per call. A run the filter does not
// return is in gone only when reading it alone answers 404: the watcher
// and reconcile delete what belongs to gone runs, so an absence must be
// proven, not inferred from a filter answer.
func (w *Worker) readRuns(ctx context.Context, ids []string) (runs map[string]prefect.FlowRun, gone map[string]bool, err error) {
	runs = make(map[string]prefect.FlowRun, len(ids))
	for i := 0; i < len(ids); i += prefectFilterChunk {
		frs, err := w.pf.FilterFlowRuns(ctx, prefect.FlowRunFilter{IDs: ids[i:min(i+prefectFilterChunk, len(ids))], Limit: prefectFilterChunk})
		if err != nil {
			return nil, nil, err
		}
		for _, fr := range frs {
			runs[fr.ID] = fr
		}
	}
	gone = map[string]bool{}
	for _, id := range ids {
		if _, ok := runs[id]; ok || gone[id] {
			continue
		}
		fr, err := w.pf.ReadFlowRun(ctx, id)
		switch {
		case errors.Is(err, prefect.ErrNotFound):
			gone[id] = true
		case err != nil:
			w.log.Warn("reading a flow run failed; looking again later", "flow_run_id", id, "err", err)
		default:
			w.log.Warn("a flow run missing from a filter answer exists", "flow_run_id", id, "state", fr.StateType)
			runs[id] = *fr
		}
	}
	return runs, gone, nil
}

func stateOrGone(fr *prefect.FlowRun, found bool) string {
	if !found {
		return "deleted"
	}
	return fr.StateType
}

var uuidSuffix = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// recordRunID is the flow run a deployment record was made for.
func recordRunID(d aci.DeploymentSummary) string {
	if id := d.Tags[TagFlowRunID]; id != "" {
		return id
	}
	return uuidSuffix.FindString(strings.ToLower(d.Name))
}
