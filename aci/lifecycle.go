package aci

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aciworker/aciworker/internal/backoff"
)

// Lifecycle is one container group's life in Azure: deploy it, wait for its
// container to start, explain a provisioning that failed, remove the group
// and then its deployment record. The one-shot Run and the worker both go
// through it. It reports nothing itself: each caller tells its own audience
// (Run writes progress to stderr, the worker writes Prefect states and
// logs), from what the methods return and the StartWatch hears.
//
// A Lifecycle is used by one goroutine.
type Lifecycle struct {
	c          *Client
	rg         string
	group      string
	deployment string
	// result is the deployment's end, once seen.
	result *DeploymentResult
	// recordWait bounds the wait for a deployment that is still running
	// before it is cancelled so that its record can be deleted.
	recordWait time.Duration
}

// NewLifecycle is the life of container group group, deployed by the
// deployment deployment, in resource group rg.
func NewLifecycle(c *Client, rg, group, deployment string) *Lifecycle {
	return &Lifecycle{c: c, rg: rg, group: group, deployment: deployment, recordWait: 30 * time.Second}
}

// Client is the client the lifecycle goes through.
func (l *Lifecycle) Client() *Client { return l.c }

// Deployed is the deployment's end once seen (nil while unknown).
func (l *Lifecycle) Deployed() *DeploymentResult { return l.result }

// Deploy submits the deployment of p and returns once ARM accepted it.
func (l *Lifecycle) Deploy(ctx context.Context, p *Prepared) error {
	return l.c.Deploy(ctx, l.rg, p)
}

// PollDeployment checks the deployment once, as Client.PollDeployment, and
// remembers its end.
func (l *Lifecycle) PollDeployment(ctx context.Context) (*DeploymentResult, time.Duration, error) {
	res, hint, err := l.c.PollDeployment(ctx, l.rg, l.deployment)
	if err == nil && res != nil {
		l.result = res
	}
	return res, hint, err
}

// StartFailure is why a container group did not start.
type StartFailure struct {
	// Stage is where it failed: "pull" (an image could not be pulled),
	// "provision" (the group's provisioning failed) or "deployment" (the
	// deployment failed; State is its provisioning state).
	Stage  string
	State  string
	Reason string // Azure's innermost reason, with the group's own when it adds to it
}

func (e *StartFailure) Error() string { return e.Reason }

// Unwrap makes every StartFailure an ErrProvisioningFailed.
func (e *StartFailure) Unwrap() error { return ErrProvisioningFailed }

// StartWatch hears what WaitStarted sees, for the caller's reporting; nil
// fields are not called.
type StartWatch struct {
	Group      func(*Group) // each group read
	ReadFailed func(error)  // a group read failed (WaitStarted reads again)
}

// WaitStarted polls the deployment, and reads the group every interval (and
// once the deployment ended), until the container has started or already
// ended (nil), the start failed (a *StartFailure), or ctx ended. Bound ctx
// by the start timeout; the lifecycle's clock paces the polls. A failed
// poll of the deployment is returned, wrapped; a failed group read is
// heard and retried.
func (l *Lifecycle) WaitStarted(ctx context.Context, interval time.Duration, watch StartWatch) error {
	nextGroupRead := l.c.clock.Now()
	for {
		wait := interval
		if l.result == nil {
			res, hint, err := l.PollDeployment(ctx)
			if err != nil {
				return fmt.Errorf("watch deployment %s: %w", l.deployment, err)
			}
			if res != nil && !res.Succeeded() {
				return l.DeploymentFailure(ctx, res)
			}
			if res == nil && hint > 0 {
				wait = min(wait, hint)
			}
		}
		if !l.c.clock.Now().Before(nextGroupRead) || l.result != nil {
			nextGroupRead = l.c.clock.Now().Add(interval)
			g, err := l.c.GetGroup(ctx, l.rg, l.group)
			switch {
			case errors.Is(err, ErrNotFound):
				// Not created yet.
			case err != nil:
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if watch.ReadFailed != nil {
					watch.ReadFailed(err)
				}
			default:
				if watch.Group != nil {
					watch.Group(g)
				}
				if f := GroupFailure(g); f != nil {
					return f
				}
				if g.Started() || l.result != nil {
					return nil
				}
			}
		}
		if err := backoff.Sleep(ctx, l.c.clock, wait); err != nil {
			return err
		}
	}
}

// GroupFailure says why a group read shows a start that failed: an image
// pull that failed, or a provisioning that did; nil when neither.
func GroupFailure(g *Group) *StartFailure {
	switch {
	case g.PullFailed():
		return &StartFailure{Stage: "pull", State: g.ProvisioningState, Reason: reasonOr(g.FailureReason(), g.ProvisioningState)}
	case strings.EqualFold(g.ProvisioningState, "Failed"):
		return &StartFailure{Stage: "provision", State: g.ProvisioningState, Reason: reasonOr(g.FailureReason(), g.ProvisioningState)}
	}
	return nil
}

func reasonOr(reason, state string) string {
	if reason != "" {
		return reason
	}
	return "provisioning state " + state
}

// DeploymentFailure explains a failed deployment with Azure's innermost
// reason and, when it adds to it, the group's own explanation (read now).
func (l *Lifecycle) DeploymentFailure(ctx context.Context, res *DeploymentResult) *StartFailure {
	reason := res.ProvisioningState
	if res.Error != nil {
		reason = res.Error.Error()
	}
	stage := "deployment"
	if g, err := l.c.GetGroup(ctx, l.rg, l.group); err == nil {
		if why := g.FailureReason(); why != "" && !strings.Contains(reason, why) {
			reason += " (" + why + ")"
		}
		// A pull failure fails the deployment too; which of the two a
		// round sees first is timing, so the group's pull decides.
		if g.PullFailed() {
			stage = "pull"
		}
	}
	return &StartFailure{Stage: stage, State: res.ProvisioningState, Reason: reason}
}

// Removal is how RemoveGroup removes a container group.
type Removal int

const (
	// Delete deletes the group and waits until it is gone.
	Delete Removal = iota
	// RequestDelete asks for the deletion and returns once Azure took the
	// request: a deletion that fails later is left to whoever sweeps for
	// leftovers (the worker's reconcile), and no reads are spent on it.
	RequestDelete
	// Stop stops the group's containers and keeps it (ErrNotFound when
	// it is gone).
	Stop
)

// RemoveGroup removes the group as how says; a group already gone is no
// error when it is deleted.
func (l *Lifecycle) RemoveGroup(ctx context.Context, how Removal) error {
	switch how {
	case Stop:
		return l.c.StopGroup(ctx, l.rg, l.group)
	case RequestDelete:
		return l.c.RequestGroupDelete(ctx, l.rg, l.group)
	}
	return l.c.DeleteGroup(ctx, l.rg, l.group)
}

// DeleteRecord deletes the deployment record once the deployment is over:
// ARM refuses to delete a running one, so one that does not end within
// its record wait (30 s) is cancelled first. A record that does not exist
// is no error. With follow, the deletion is waited for; without, it is
// only requested (see RequestDelete) and the deployment's state is read
// only when ARM refuses the request as still running.
func (l *Lifecycle) DeleteRecord(ctx context.Context, follow bool) error {
	if !follow {
		err := l.c.RequestDeploymentDelete(ctx, l.rg, l.deployment)
		if !IsConflict(err) {
			return err
		}
		if err := l.endDeployment(ctx); err != nil {
			return err
		}
		return l.c.RequestDeploymentDelete(ctx, l.rg, l.deployment)
	}
	if l.result == nil {
		res, _, err := l.PollDeployment(ctx)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil
		case err != nil:
			return err
		case res == nil:
			if err := l.endDeployment(ctx); err != nil {
				return err
			}
		}
	}
	return l.c.DeleteDeployment(ctx, l.rg, l.deployment)
}

// endDeployment waits a while for a running deployment to end, then
// cancels it and waits for the cancellation.
func (l *Lifecycle) endDeployment(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, l.recordWait)
	_, err := l.c.WaitDeployment(wctx, l.rg, l.deployment)
	cancel()
	switch {
	case err == nil, errors.Is(err, ErrNotFound):
		return nil
	case ctx.Err() != nil, errors.Is(err, ErrNoAnswer):
		// Azure does not answer: cancelling would wait as long.
		return err
	}
	if err := l.c.CancelDeployment(ctx, l.rg, l.deployment); err != nil {
		return err
	}
	if _, err := l.c.WaitDeployment(ctx, l.rg, l.deployment); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}
