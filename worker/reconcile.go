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
	every(ctx, w.cfg.ReconcileInterval, true, func(ctx context.Context) error {
		return w.reconcileOnce(ctx)
	})
}

// reconcileTargets are the resource groups to sweep: every one a run of
// this worker used, plus the pool's default and the worker environment's.
func (w *Worker) reconcileTargets() []*target {
	_, template := w.poolSnapshot()
	vals := withDefaults(template, nil)
	sub, _ := vals["subscription_id"].(string)
	rg, _ := vals["resource_group_name"].(string)
	if sub != "" && rg != "" && !strings.Contains(sub+rg, "{{") {
		w.azure.target(sub, rg, credentials{})
	}
	if sub, rg := w.environ["AZURE_SUBSCRIPTION_ID"], w.environ["AZURE_RESOURCE_GROUP"]; sub != "" && rg != "" {
		w.azure.target(sub, rg, credentials{})
	}
	return w.azure.all()
}

// reconcileOnce removes this pool's container groups whose runs are final
// or gone (kept groups excepted) and its deployment records whose groups
// are gone.
func (w *Worker) reconcileOnce(ctx context.Context) error {
	select {
	case <-w.synced:
	default:
		return nil
	}
	var errs []error
	for _, t := range w.reconcileTargets() {
		if err := w.reconcileTarget(ctx, t); err != nil {
			if ctx.Err() == nil {
				w.log.Warn("reconcile failed; retrying later", "resource_group", t.rg, "err", err)
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// staleGroup decides whether reconcile may remove a group of this pool.
func staleGroup(fr *prefect.FlowRun, found bool, me string, online map[string]bool, now time.Time) bool {
	if !found {
		return true // the flow run was deleted
	}
	if !isTerminal(fr.StateType) {
		return false
	}
	owner, _ := fr.Labels[ownerLabel].(string)
	if owner == me || (owner != "" && !online[owner]) {
		return true
	}
	var at time.Time
	switch {
	case fr.State != nil && fr.State.Timestamp != nil:
		at = *fr.State.Timestamp
	case fr.EndTime != nil:
		at = *fr.EndTime
	}
	return at.IsZero() || now.Sub(at) > staleAfter
}

func (w *Worker) reconcileTarget(ctx context.Context, t *target) error {
	groups, err := t.client.ListGroups(ctx, t.rg)
	if err != nil {
		return err
	}
	ours := map[string]aci.GroupSummary{}
	var ids []string
	present := map[string]bool{}
	for _, g := range groups {
		present[g.Name] = true
		id := g.Tags[TagFlowRunID]
		if g.Tags[TagPool] != w.cfg.Pool || id == "" || w.isInflight(id) {
			continue
		}
		ours[g.Name] = g
		ids = append(ids, id)
	}
	if len(ours) > 0 {
		states := map[string]prefect.FlowRun{}
		for i := 0; i < len(ids); i += prefectFilterChunk {
			frs, err := w.pf.FilterFlowRuns(ctx, prefect.FlowRunFilter{IDs: ids[i:min(i+prefectFilterChunk, len(ids))], Limit: prefectFilterChunk})
			if err != nil {
				return err
			}
			for _, fr := range frs {
				states[fr.ID] = fr
			}
		}
		online, err := w.onlineWorkers(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		for name, g := range ours {
			id := g.Tags[TagFlowRunID]
			fr, found := states[id]
			if w.isInflight(id) || !staleGroup(&fr, found, w.cfg.Name, online, now) {
				continue
			}
			if g.Tags[TagKeep] == "true" {
				continue
			}
			if err := t.client.DeleteGroup(ctx, t.rg, name); err != nil {
				w.log.Warn("reconcile: deleting a leftover container group failed", "group", name, "err", err)
				continue
			}
			delete(present, name)
			w.log.Info("reconcile: deleted leftover container group", "group", name, "flow_run_id", id)
		}
	}
	deps, err := t.client.ListDeployments(ctx, t.rg)
	if err != nil {
		return err
	}
	// Deployment records whose group is gone. A record names its run (tag,
	// or the run id ending its name); only records of this pool's runs go.
	var cands []aci.DeploymentSummary
	var candIDs []string
	for _, d := range deps {
		group, ok := strings.CutPrefix(d.Name, "prefect-")
		if !ok || present[group] {
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
		if id == "" || w.isInflight(id) {
			continue
		}
		cands = append(cands, d)
		candIDs = append(candIDs, id)
	}
	if len(cands) == 0 {
		return nil
	}
	runs := map[string]prefect.FlowRun{}
	for i := 0; i < len(candIDs); i += prefectFilterChunk {
		frs, err := w.pf.FilterFlowRuns(ctx, prefect.FlowRunFilter{IDs: candIDs[i:min(i+prefectFilterChunk, len(candIDs))], Limit: prefectFilterChunk})
		if err != nil {
			return err
		}
		for _, fr := range frs {
			runs[fr.ID] = fr
		}
	}
	for i, d := range cands {
		fr, found := runs[candIDs[i]]
		if d.Tags[TagPool] != w.cfg.Pool && (!found || fr.WorkPoolName != w.cfg.Pool) {
			continue // not provably this pool's
		}
		if err := t.client.DeleteDeployment(ctx, t.rg, d.Name); err != nil {
			w.log.Warn("reconcile: deleting a leftover deployment record failed", "deployment", d.Name, "err", err)
			continue
		}
		w.log.Info("reconcile: deleted leftover deployment record", "deployment", d.Name)
	}
	return nil
}

var uuidSuffix = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// recordRunID is the flow run a deployment record was made for.
func recordRunID(d aci.DeploymentSummary) string {
	if id := d.Tags[TagFlowRunID]; id != "" {
		return id
	}
	return uuidSuffix.FindString(strings.ToLower(d.Name))
}
