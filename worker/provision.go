package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/prefect"
)

// minDeploymentPoll keeps provisioning polls from spending the read budget
// faster than they learn anything, whatever Azure's hint.
const minDeploymentPoll = 500 * time.Millisecond

// provision submits the run's deployment and waits until its container
// has started (prefect-azure: until the deployment succeeded), failed, or
// task_start_timeout_seconds passed.
func (w *Worker) provision(ctx context.Context, r *run) error {
	c, rg := r.tgt.client, r.tgt.rg
	// task_start_timeout_seconds covers the deployment's submission too:
	// an ARM that takes the request and never answers is a start that
	// failed, not a worker stalled for good.
	timeout := r.cfg.StartTimeout
	startCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		startCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	timedOut := func() error {
		if ctx.Err() == nil && startCtx.Err() != nil {
			return submitErr("RuntimeError", fmt.Errorf("timed out after %s while waiting for container group %s to start", timeout, r.group))
		}
		return nil
	}
	if w.alreadyDeployed(startCtx, r) {
		w.runLog(r.id, prefect.LevelInfo, fmt.Sprintf("Container group %s was already requested by the worker of an earlier claim; watching it instead of deploying again", r.group))
	} else {
		w.log.Info("creating container group", "flow_run_id", r.id, "group", r.group, "resource_group", rg,
			"hint", fmt.Sprintf("az container logs --resource-group %s --name %s", rg, r.group))
		if err := c.Deploy(startCtx, rg, r.prepared); err != nil {
			if terr := timedOut(); terr != nil {
				return terr
			}
			return submitErr("AzureError", fmt.Errorf("deployment %s was rejected: %w", r.deploymentName(), err))
		}
		w.observeSubmitted(r, time.Now())
	}
	w.logGroupID(r)
	groupEvery := r.cfg.PollInterval
	// Polls back off from Azure's hint to the poll interval: a quick start
	// is seen at once, a slow one costs few reads.
	backoff := minDeploymentPoll
	nextGroupRead := w.now().Add(groupEvery)
	for {
		res, hint, err := c.PollDeployment(startCtx, rg, r.deploymentName())
		if err != nil {
			if terr := timedOut(); terr != nil {
				return terr
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A transient Azure error: try again at the next poll.
			w.log.Warn("reading the deployment failed; retrying", "flow_run_id", r.id, "err", err)
		} else if res != nil {
			if !res.Succeeded() {
				return w.provisioningFailed(ctx, r, res)
			}
			return w.checkStarted(ctx, r)
		}
		if !w.now().Before(nextGroupRead) {
			nextGroupRead = w.now().Add(groupEvery)
			g, err := c.GetGroup(startCtx, rg, r.group)
			if err == nil {
				if g.PullFailed() || strings.EqualFold(g.ProvisioningState, "Failed") {
					return submitErr("RuntimeError", fmt.Errorf("container group %s failed to start: %s", r.group, reasonOr(g.FailureReason(), g.ProvisioningState)))
				}
				r.noteContainer(g)
			}
		}
		wait := min(max(hint, backoff), r.cfg.PollInterval)
		backoff = min(2*backoff, r.cfg.PollInterval)
		if !w.sleep(startCtx, wait) {
			if terr := timedOut(); terr != nil {
				return terr
			}
			return ctx.Err()
		}
	}
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

// checkStarted reads the group once the deployment succeeded, as
// prefect-azure does before it reports the run started.
func (w *Worker) checkStarted(ctx context.Context, r *run) error {
	g, err := r.tgt.client.GetGroup(ctx, r.tgt.rg, r.group)
	if err != nil {
		if errors.Is(err, aci.ErrNotFound) {
			return submitErr("RuntimeError", fmt.Errorf("container group %s was not found after its deployment succeeded", r.group))
		}
		// The deployment succeeded, so the container runs; the watcher
		// reads the group again.
		w.log.Warn("reading the new container group failed", "flow_run_id", r.id, "err", err)
		return nil
	}
	if g.PullFailed() || strings.EqualFold(g.ProvisioningState, "Failed") {
		return submitErr("RuntimeError", fmt.Errorf("container group %s failed to start: %s", r.group, reasonOr(g.FailureReason(), g.ProvisioningState)))
	}
	r.noteContainer(g)
	return nil
}

func reasonOr(reason, state string) string {
	if reason != "" {
		return reason
	}
	return "provisioning state " + state
}

// provisioningFailed explains a failed deployment with Azure's innermost
// reason and the group's own events.
func (w *Worker) provisioningFailed(ctx context.Context, r *run, res *aci.DeploymentResult) error {
	reason := res.ProvisioningState
	if res.Error != nil {
		reason = res.Error.Error()
	}
	if g, err := r.tgt.client.GetGroup(ctx, r.tgt.rg, r.group); err == nil {
		if why := g.FailureReason(); why != "" && !strings.Contains(reason, why) {
			reason += " (" + why + ")"
		}
	}
	return submitErr("RuntimeError", fmt.Errorf("container group %s: deployment %s %s: %s", r.group, r.deploymentName(), strings.ToLower(res.ProvisioningState), reason))
}
