package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/prefect"
)

// reads is where the run reads its deployment and flow: shared with the
// runs found with it, or its own.
func (r *run) reads(w *Worker) *lookups {
	if r.lk == nil {
		r.lk = newLookups(w.pf, w.retryTransient)
	}
	return r.lk
}

// submitError is a failure before the container started: the run is
// reported Crashed with Prefect's "Failed to submit flow run to
// infrastructure: {Kind}: {message}".
type submitError struct {
	kind string
	err  error
}

func (e *submitError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *submitError) Unwrap() error { return e.err }

func submitErr(kind string, err error) error { return &submitError{kind: kind, err: err} }

// submit runs Prefect's submission steps in Prefect's order and provisions
// the container group. started is false when the run is not ours to run
// (another worker won it, it was cancelled, its deployment is gone).
func (w *Worker) submit(ctx context.Context, r *run) (started bool, err error) {
	fr := &r.fr
	r.reads(w).warmFlow(ctx, fr.FlowID)
	if fr.DeploymentID != "" {
		dep, err := r.reads(w).deployment(ctx, fr.DeploymentID)
		if errors.Is(err, prefect.ErrNotFound) {
			w.markCancelled(ctx, r.id, fmt.Sprintf("Deployment %s no longer exists, cancelled run.", fr.DeploymentID))
			return false, nil
		}
		if err != nil {
			// Not claimed yet: the run stays Scheduled for the next poll.
			w.log.Warn("reading the deployment failed; the run stays scheduled", "flow_run_id", r.id, "err", err)
			return false, nil
		}
		r.deployment = dep
	}
	if ok := w.proposePending(ctx, r); !ok {
		return false, nil
	}
	flow, err := r.reads(w).flow(ctx, fr.FlowID)
	if err != nil {
		return false, submitErr("PrefectError", fmt.Errorf("read flow %s: %w", fr.FlowID, err))
	}
	r.flow = flow
	r.phase = phaseConfiguring
	if err := w.configure(ctx, r); err != nil {
		return false, err
	}
	pool, _ := w.poolSnapshot()
	labels := map[string]string{
		"prefect.worker.name":    w.cfg.Name,
		"prefect.worker.type":    w.cfg.Type,
		"prefect.work-pool.name": w.cfg.Pool,
	}
	if pool != nil && pool.ID != "" {
		labels["prefect.work-pool.id"] = pool.ID
	} else if r.poolID != "" {
		labels["prefect.work-pool.id"] = r.poolID
	}
	if err := w.retryTransient(ctx, func(ctx context.Context) error { return w.pf.UpdateFlowRunLabels(ctx, r.id, labels) }); err != nil {
		return false, submitErr("PrefectError", fmt.Errorf("update flow run labels: %w", err))
	}
	// Prefect's worker renames its claim "Submitting" here. aciworker does
	// not: the rename is an unconditional write that the server accepts
	// from whatever state the run is in by then, so a worker whose claim
	// was handed back while it stalled would take the run back from the
	// worker that claimed it next, or even move a finished run back to
	// Pending and run it again. The claim stays the Pending state this
	// worker proposed, and that is what is checked before deploying.
	if !w.stillClaimed(ctx, r) {
		return false, nil
	}
	w.emitSubmitted(r)
	if err := w.provision(ctx, r); err != nil {
		return false, err
	}
	if err := w.retryTransient(ctx, func(ctx context.Context) error { return w.pf.SetInfrastructurePID(ctx, r.id, PID(r.id, r.group)) }); err != nil {
		w.runLog(r.id, prefect.LevelError, fmt.Sprintf("An error occurred while setting the `infrastructure_pid` on flow run %s. The flow run will not be cancellable.", r.id))
	}
	w.runLog(r.id, prefect.LevelInfo, fmt.Sprintf("Flow run '%s' submitted to infrastructure", fr.Name))
	return true, nil
}

// stillClaimed reads the run's state history before anything is created
// in Azure. A claim that stayed unlabelled for long (this worker stalled
// between its Pending proposal and its labels) may have been handed back to
// the pool by another worker's orphan recovery; then the current state is
// no longer the Pending this worker proposed and the run is someone else's.
// And Prefect accepts a Pending proposal, or a hand-back, on a run that has
// already finished (when its result is not persisted): a claim that
// replaced a final state, directly or through a hand-back, would run the
// flow a second time, so that state is put back instead.
//
// The current state is the run's record's: the history is ordered by the
// time the server stamped each state, which is when it read the proposal,
// not when it committed it (see overtaken). The record is read batched with
// the other submissions', and settles both questions for a run that has
// never been final. Prefect sets a run's start_time when it first enters
// Running or a final state (whichever comes first; "for flows that fail
// before execution") and never clears it, so a run without one has no
// final state in its history for the claim to have replaced. Only a run
// that ran or ended before (a retry, a rerun, an overtaken claim) has its
// history read.
func (w *Worker) stillClaimed(ctx context.Context, r *run) bool {
	fr, found, err := w.current.get(ctx, r.id)
	if err != nil || !found {
		// The batch failed, or its filter did not list the run: read it
		// alone.
		var one *prefect.FlowRun
		err = w.retryTransient(ctx, func(ctx context.Context) (err error) {
			one, err = w.pf.ReadFlowRun(ctx, r.id)
			return err
		})
		if errors.Is(err, prefect.ErrNotFound) {
			w.log.Info(fmt.Sprintf("Aborted submission of flow run '%s': it no longer exists", r.id))
			return false
		}
		if err != nil {
			// Unknown: go on, as Prefect's worker would without this check.
			w.log.Warn("re-reading the claimed flow run failed; submitting anyway", "flow_run_id", r.id, "err", err)
			return true
		}
		fr = *one
	}
	if !claimedBy(fr.State, r.claim) {
		typ := "no state"
		if fr.State != nil {
			typ = fr.State.Type
		}
		w.log.Info(fmt.Sprintf("Aborted submission of flow run '%s': it is no longer in the Pending state this worker proposed (now %s)", r.id, typ))
		return false
	}
	if fr.StartTime == nil {
		return true
	}
	states, err := w.history(ctx, r.id)
	if err != nil {
		w.log.Warn("reading the claimed flow run's history failed; submitting anyway", "flow_run_id", r.id, "err", err)
		return true
	}
	prev := overtaken(states, fr.State.ID)
	if prev == nil {
		return true
	}
	w.restoreOvertaken(ctx, r, prev, fmt.Sprintf("Aborted submission of flow run '%s': it had already reached %s ('%s') before this worker's claim", r.id, prev.Type, prev.Name))
	return false
}

// history reads a run's state history, oldest first, past passing errors.
func (w *Worker) history(ctx context.Context, id string) (states []prefect.State, err error) {
	err = w.retryTransient(ctx, func(ctx context.Context) (err error) {
		states, err = w.pf.ReadFlowRunStates(ctx, id)
		return err
	})
	return states, err
}

// restoreOvertaken puts back the final state a claim replaced; the run's
// log says why (what), then that the state is restored.
func (w *Worker) restoreOvertaken(ctx context.Context, r *run, prev *prefect.State, what string) {
	st := prefect.StateCreate{Type: prev.Type, Name: prev.Name, Message: prev.Message, Data: prev.Data, StateDetails: prev.StateDetails}
	st.StateDetails.TransitionID = prefect.NewTransitionID()
	var res *prefect.OrchestrationResult
	err := w.retryTransient(ctx, func(ctx context.Context) (err error) {
		res, err = w.pf.SetFlowRunState(ctx, r.id, st, true)
		return err
	})
	if err != nil {
		w.log.Error("restoring the state of a finished flow run failed", "flow_run_id", r.id, "state", prev.Type, "err", err)
		return
	}
	if res.Status != prefect.StatusAccept {
		w.logRejected(r.id, prev.Type, res)
		return
	}
	w.runLog(r.id, prefect.LevelWarning, what+"; that state is restored and the flow is not run again")
}

// proposePending claims the run. Only a returned PENDING state lets the
// submission go on: an ACCEPT, or a REJECT replaying our own proposal.
// The proposal names this worker in its message, so that whoever sees the
// claim knows whose it is before the owner label is set.
func (w *Worker) proposePending(ctx context.Context, r *run) bool {
	for {
		// One transition id for all retries: a retry of a proposal the
		// server applied is answered as a duplicate, not a second claim.
		st := prefect.StateCreate{Type: prefect.StatePending, Name: "Pending", Message: claimMessage(w.cfg.Name),
			StateDetails: prefect.StateDetails{TransitionID: prefect.NewTransitionID()}}
		var res *prefect.OrchestrationResult
		err := w.retryTransient(ctx, func(ctx context.Context) (err error) {
			res, err = w.pf.SetFlowRunState(ctx, r.id, st, false)
			return err
		})
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn(fmt.Sprintf("Failed to update state of flow run '%s'", r.id), "err", err)
			}
			return false
		}
		switch res.Status {
		case prefect.StatusAccept, prefect.StatusReject:
			if ownClaim(res, st.StateDetails.TransitionID) {
				r.claim = st.StateDetails.TransitionID
				return true
			}
			typ := "UNKNOWN"
			if res.State != nil {
				typ = res.State.Type
			}
			if typ == prefect.StatePending {
				w.log.Info(fmt.Sprintf("Aborted submission of flow run '%s': it is Pending under another claim", r.id), "reason", res.Details.Reason)
				return false
			}
			w.log.Info(fmt.Sprintf("Aborted submission of flow run '%s': Server returned a non-pending state '%s'", r.id, typ), "reason", res.Details.Reason)
			return false
		case prefect.StatusWait:
			d := time.Second
			if res.Details.DelaySeconds != nil {
				d = time.Duration(*res.Details.DelaySeconds * float64(time.Second))
			}
			if !w.sleep(ctx, d) {
				return false
			}
		default:
			w.log.Info(fmt.Sprintf("Aborted submission of flow run '%s'. Server sent an abort signal: %s", r.id, res.Details.Reason))
			return false
		}
	}
}

// configure builds the run's job configuration and container group.
func (w *Worker) configure(ctx context.Context, r *run) error {
	_, template := w.poolSnapshot()
	var depVars map[string]any
	if r.deployment != nil {
		depVars = r.deployment.JobVariables
	}
	values, err := mergeJobVariables(depVars, r.fr.JobVariables)
	if err != nil {
		return submitErr("TypeError", err)
	}
	res := &resolver{pf: w.pf, env: w.environ, secrets: w.ownSecrets, azure: w.azureSecrets}
	rendered, secretPaths, err := renderTemplate(ctx, template, values, res)
	if err != nil {
		return submitErr("ValueError", err)
	}
	res.checkPlaceholders(values)
	res.checkValues(values)
	if err := res.refusal(); err != nil {
		return submitErr("ValueError", err)
	}
	cfg, err := parseJobConfig(rendered)
	if err != nil {
		return submitErr("ValidationError", err)
	}
	if err := cfg.markSecret(secretPaths); err != nil {
		return submitErr("ValueError", err)
	}
	if r.origin == submitted {
		// A recovered run was warned when it was submitted.
		for _, warn := range cfg.Warnings {
			w.runLog(r.id, prefect.LevelWarning, "Job variables adjusted: "+warn)
		}
	}
	w.noteJobChoices(ctx, r, cfg)
	rule, err := newSecretRule(withDefaults(template, values))
	if err != nil {
		return submitErr("ValidationError", err)
	}
	ri := runInfo{FlowRun: &r.fr, Flow: r.flow, Deployment: r.deployment, PoolName: w.cfg.Pool, WorkerName: w.cfg.Name, WorkerID: w.BackendID()}
	job, err := buildJob(ri, cfg, w.baseEnv, rule)
	if err != nil {
		return submitErr("ValidationError", err)
	}
	job.Withheld = w.ownSecrets
	w.setRunRedactor(r.id, append(secretValues(job), cfg.Credentials.ClientSecret)...)
	p, err := aci.Prepare(job)
	if err != nil {
		return submitErr("ValueError", err)
	}
	tgt, err := w.azure.acquire(ctx, cfg.SubscriptionID, cfg.ResourceGroup, cfg.Credentials)
	if err != nil {
		return submitErr("AzureError", err)
	}
	if r.tgt != nil {
		w.azure.release(r.tgt) // configured before (not expected): one use per run
	}
	r.cfg, r.job, r.prepared, r.tgt, r.group = cfg, job, p, tgt, job.GroupName
	r.container = p.ContainerName
	return nil
}

// withDefaults lays the job variables over the pool's variable defaults,
// as Prefect does before templating, so that a pool can set secret_env.
func withDefaults(template map[string]any, values map[string]any) map[string]any {
	out := map[string]any{}
	if vars, ok := template["variables"].(map[string]any); ok {
		if props, ok := vars["properties"].(map[string]any); ok {
			for k, p := range props {
				if pm, ok := p.(map[string]any); ok {
					if d, ok := pm["default"]; ok && d != nil {
						out[k] = d
					}
				}
			}
		}
	}
	for k, v := range values {
		out[k] = v
	}
	return out
}

// submissionFailed reports a run that failed before its container started
// as Crashed, with the reason, and removes whatever was created.
func (w *Worker) submissionFailed(ctx context.Context, r *run, err error) {
	err = w.redactorFor(r.id).Error(err)
	w.runLog(r.id, prefect.LevelError, fmt.Sprintf("Failed to submit flow run '%s' to infrastructure: %v", r.fr.Name, err))
	kind := "RuntimeError"
	var se *submitError
	if errors.As(err, &se) {
		kind = se.kind
		err = se.err
	}
	if w.proposeCrashed(ctx, r.id, fmt.Sprintf("Failed to submit flow run to infrastructure: %s: %v", kind, err)) {
		w.observeFinished(r, prefect.StateCrashed)
	}
	if r.tgt != nil && r.group != "" {
		// A group that failed to provision is always deleted, kept or not.
		w.cleanup(ctx, r, groupDelete)
	}
}

// proposeCrashed sets Crashed unless the run is already final (the server
// then aborts the proposal, which is fine). A run that is Cancelling ends
// Cancelled instead: Prefect rejects Crashed from Cancelling ("Cannot
// transition flows that are cancelling to a state other than
// Cancelled"), and its infrastructure is gone by the time a crash is
// reported, which is what cancelling it would have achieved.
func (w *Worker) proposeCrashed(ctx context.Context, id, message string) bool {
	message = w.redactorFor(id).String(message)
	st := prefect.StateCreate{Type: prefect.StateCrashed, Name: "Crashed", Message: message, StateDetails: prefect.StateDetails{TransitionID: prefect.NewTransitionID()}}
	var res *prefect.OrchestrationResult
	err := w.retryTransient(ctx, func(ctx context.Context) (err error) {
		res, err = w.pf.SetFlowRunState(ctx, id, st, false)
		return err
	})
	switch {
	case errors.Is(err, prefect.ErrNotFound):
		return false
	case err != nil:
		w.log.Warn("reporting the flow run as crashed failed", "flow_run_id", id, "err", err)
		return false
	case res.Status == prefect.StatusAccept || res.State != nil && res.State.Type == prefect.StateCrashed:
		w.runLog(id, prefect.LevelInfo, fmt.Sprintf("Reported flow run '%s' as crashed: %s", id, message))
		return true
	}
	w.logRejected(id, prefect.StateCrashed, res)
	if res.State != nil && res.State.Type == prefect.StateCancelling {
		msg := "Flow run was cancelled; its infrastructure is gone: " + message
		if err := w.markCancelled(ctx, id, msg); err != nil {
			w.log.Warn("marking the flow run cancelled failed", "flow_run_id", id, "err", err)
			return false
		}
		w.runLog(id, prefect.LevelInfo, "Cancelled flow run '"+id+"': "+message)
	}
	return false
}

// logRejected logs a state proposal the server did not accept, with its
// reason and the state the run stays in.
func (w *Worker) logRejected(id, proposed string, res *prefect.OrchestrationResult) {
	current := ""
	if res.State != nil {
		current = res.State.Type
	}
	w.log.Info("the server did not accept a state proposal", "flow_run_id", id, "proposed", proposed,
		"status", res.Status, "reason", res.Details.Reason, "state", current)
}

// markCancelled forces the run to Cancelled (Prefect's
// _mark_flow_run_as_cancelled).
func (w *Worker) markCancelled(ctx context.Context, id, message string) error {
	st := prefect.StateCreate{Type: prefect.StateCancelled, Name: "Cancelled", Message: message, StateDetails: prefect.StateDetails{TransitionID: prefect.NewTransitionID()}}
	var res *prefect.OrchestrationResult
	err := w.retryTransient(ctx, func(ctx context.Context) (err error) {
		res, err = w.pf.SetFlowRunState(ctx, id, st, true)
		return err
	})
	switch {
	case errors.Is(err, prefect.ErrNotFound):
		return nil
	case err != nil:
		return err
	case res.Status != prefect.StatusAccept:
		w.logRejected(id, prefect.StateCancelled, res)
	}
	return nil
}
