package worker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/prefect"
)

// provision submits the run's deployment. It does not wait for the
// container group to start: the watcher's list rounds follow every run's
// provisioning at once (the group's provisioning state, the deployment's
// state), where polling each deployment's operation cost reads per run.
// task_start_timeout_seconds runs from here, and covers the submission.
func (w *Worker) provision(ctx context.Context, r *run) error {
	rg := r.tgt.rg
	timeout := r.cfg.StartTimeout
	startCtx := ctx
	if timeout > 0 {
		r.startBy = w.now().Add(timeout)
		var cancel context.CancelFunc
		startCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if w.alreadyDeployed(startCtx, r) {
		w.runLog(r.id, prefect.LevelInfo, fmt.Sprintf("Container group %s was already requested by the worker of an earlier claim; watching it instead of deploying again", r.group))
	} else {
		w.log.Info("creating container group", "flow_run_id", r.id, "group", r.group, "resource_group", rg,
			"hint", fmt.Sprintf("az container logs --resource-group %s --name %s", rg, r.group))
		if err := r.lifecycle().Deploy(startCtx, r.prepared); err != nil {
			if ctx.Err() == nil && startCtx.Err() != nil {
				return r.startTimedOut()
			}
			return submitErr("AzureError", fmt.Errorf("deployment %s was rejected: %w", r.deploymentName(), err))
		}
		w.observeSubmitted(r, time.Now())
	}
	w.logGroupID(r)
	r.phase = phaseProvisioning
	return nil
}

// startTimedOut is the error of a run whose group did not start within
// task_start_timeout_seconds.
func (r *run) startTimedOut() error {
	return submitErr("RuntimeError", fmt.Errorf("timed out after %s while waiting for container group %s to start", r.cfg.StartTimeout, r.group))
}

// alreadyDeployed looks for the run's deployment before a run handed back
// by orphan recovery is deployed: the worker of the earlier claim may have
// deployed in the moment between the last look and the hand-back, and a
// second deployment would start the flow a second time. Other runs are not
// looked up, which saves a read per run.
func (w *Worker) alreadyDeployed(ctx context.Context, r *run) bool {
	if !rescheduled(&r.fr) {
		return false
	}
	_, _, err := r.tgt.client.PollDeployment(ctx, r.tgt.rg, r.deploymentName())
	return err == nil
}

// provisioningFailed explains a failed deployment with Azure's innermost
// reason and the group's own events.
func (w *Worker) provisioningFailed(ctx context.Context, r *run, res *aci.DeploymentResult) error {
	f := r.lifecycle().DeploymentFailure(ctx, res)
	return submitErr("RuntimeError", fmt.Errorf("container group %s: deployment %s %s: %s", r.group, r.deploymentName(), strings.ToLower(f.State), f.Reason))
}
