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

// Re-adoption: state lives in Prefect and Azure, so a worker started after
// a crash or kill -9 finds the runs that were in flight (this pool's
// Pending, Running and Cancelling runs) and watches them to the end
// instead of forgetting them. A run is adopted only when it is this
// worker's (its prefect.worker.name label is our name), its worker is no
// longer online in the pool, or it has stayed Pending with no owner label
// and no container for OrphanAfter (its worker died between claiming it
// and labelling it), so live workers never steal each other's runs.

// ownerLabel is the flow-run label Prefect's workers set to their name.
const ownerLabel = "prefect.worker.name"

// A claim (the Pending proposal) names its worker in the state message:
// the claim and its owner are then one write, while the owner label comes
// later (and never, if the worker dies in between).
const (
	claimPrefix = "Claimed by worker '"
	claimSuffix = "'"
)

func claimMessage(worker string) string { return claimPrefix + worker + claimSuffix }

// reschedulePrefix starts the message of a Scheduled state that handed an
// abandoned claim back to the pool.
const reschedulePrefix = "Rescheduled by worker "

// rescheduledLabel marks a run handed back by orphan recovery, with the
// name of the worker that did it. A label, not the state: the scheduled
// runs a worker polls come without their state, and Prefect's late-runs
// service replaces the Scheduled state of a run that waits.
const rescheduledLabel = "aciworker.rescheduled-by"

func (w *Worker) adoptLoop(ctx context.Context) {
	w.every(ctx, w.cfg.AdoptInterval, true, func(ctx context.Context) error {
		return w.adoptOnce(ctx)
	})
}

// cancelledUnstarted is Prefect's message (workers/base.py _cancel_run)
// for a run cancelled before it had infrastructure.
const cancelledUnstarted = "Flow run cancelled by worker (no infrastructure found)."

// adoptionEnded notes that a watched adoption is over. A run that ended in
// Prefect is not listed again; one still in the state it was adopted in
// (a crash report the server refused, an exit that the engine did not
// report) waits, longer each time (readoptAt), before it is adopted again.
func (w *Worker) adoptionEnded(r *run, now time.Time) {
	if r.fr.State == nil || r.fr.State.ID == "" {
		return
	}
	w.store.adoptionEnded(r.id, r.fr.State.ID, now, w.cfg.AdoptInterval)
}

// adoptionDue says whether a run may be adopted now: not while it sits in
// the state an earlier adoption of it ended in and its wait is not over.
func (w *Worker) adoptionDue(fr *prefect.FlowRun, now time.Time) bool {
	stateID := ""
	if fr.State != nil {
		stateID = fr.State.ID
	}
	due, tries := w.store.adoptionDue(fr.ID, stateID, now)
	if due && tries > 0 {
		w.log.Warn("adopting a flow run again: its last adoption ended without moving it", "flow_run_id", fr.ID, "state", fr.StateType, "tries", tries)
	}
	return due
}

// poolWorkers is what the pool's worker list says about other workers.
type poolWorkers struct {
	online   map[string]bool      // ONLINE now
	lastSeen map[string]time.Time // last heartbeat, when known
}

// onlineWorkers lists the pool's online workers (other than this one).
func (w *Worker) onlineWorkers(ctx context.Context) (map[string]bool, error) {
	pw, err := w.poolWorkers(ctx)
	return pw.online, err
}

func (w *Worker) poolWorkers(ctx context.Context) (poolWorkers, error) {
	ws, err := w.pf.ListWorkers(ctx, w.cfg.Pool)
	if err != nil {
		return poolWorkers{}, err
	}
	pw := poolWorkers{online: map[string]bool{}, lastSeen: map[string]time.Time{}}
	for _, x := range ws {
		if x.Name == w.cfg.Name {
			continue
		}
		if strings.EqualFold(x.Status, "ONLINE") {
			pw.online[x.Name] = true
		}
		if x.LastHeartbeatTime != nil {
			pw.lastSeen[x.Name] = *x.LastHeartbeatTime
		}
	}
	return pw, nil
}

// adoptOnce looks for runs of the pool in flight that no one watches.
func (w *Worker) adoptOnce(ctx context.Context) error {
	select {
	case <-w.synced:
	default:
		return nil
	}
	// A run this process ends while the listing is read is listed as it
	// was before (e.g. a claim that found its run already over and put
	// the final state back): adopting it from the listing would act on a
	// run that is over, and report it Crashed over its final state.
	listedAt := w.now()
	// The runs this process watches are left out by the server: at
	// thousands in flight, listing them all every pass only to skip them
	// cost the Prefect server most of a core. One taken after this is
	// skipped below (owns); one dropped after this, ended by this process,
	// is listed at the next pass if it is still in flight.
	watched := w.store.ids()
	var runs []prefect.FlowRun
	for offset := 0; ; offset += prefectFilterChunk {
		page, err := w.pf.FilterFlowRuns(ctx, prefect.FlowRunFilter{
			WorkPoolNames: []string{w.cfg.Pool},
			StateTypes:    []string{prefect.StatePending, prefect.StateRunning, prefect.StateCancelling},
			NotIDs:        watched,
			Limit:         prefectFilterChunk,
			Offset:        offset,
		})
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("looking for runs to adopt failed; retrying", "err", err)
			}
			return err
		}
		runs = append(runs, page...)
		if len(page) < prefectFilterChunk {
			break
		}
	}
	listed := make(map[string]bool, len(runs)+len(watched))
	for i := range runs {
		listed[runs[i].ID] = true
	}
	for _, id := range watched {
		listed[id] = true // in flight, as far as this process knows
	}
	w.store.forgetUnlisted(listed)
	if len(runs) == 0 {
		return nil
	}
	pw, err := w.poolWorkers(ctx)
	if err != nil {
		w.log.Warn("listing the pool's workers failed; retrying", "err", err)
		return err
	}
	now := w.now()
	lk := newLookups(w.pf, w.retryTransient)
	for i := range runs {
		fr := runs[i]
		if w.store.owns(fr.ID) || w.store.endedSince(fr.ID, listedAt) || !adoptable(&fr, w.cfg.Name, pw.online, now, w.cfg.OrphanAfter) || !w.adoptionDue(&fr, now) {
			continue
		}
		group := ""
		if fr.InfrastructurePID != "" {
			g, err := ParsePID(fr.InfrastructurePID, fr.ID)
			if err != nil {
				if strings.EqualFold(fr.StateType, prefect.StateCancelling) && w.store.noteBadPID(fr.ID) {
					w.runLog(fr.ID, prefect.LevelError, fmt.Sprintf("Cannot cancel flow run '%s': %v", fr.ID, err))
				}
				continue
			}
			group = g
		} else if !pendingOrCancelling(&fr) || w.cfg.DisableCancellation && strings.EqualFold(fr.StateType, prefect.StateCancelling) {
			// Running with no pid: a run Prefect's own worker started,
			// or whose pid write failed; nothing tells where it runs. A
			// claim cancelled before it had a group is this worker's to
			// end only with cancellation on.
			continue
		}
		r := &run{id: fr.ID, fr: fr, lk: lk, origin: recovered}
		if claimAbandoned(&fr, w.cfg.Name, pw.lastSeen, now, w.cfg.OrphanAfter) {
			r.origin = abandonedClaim
		}
		if w.store.take(r, false) != taken {
			continue
		}
		w.runs.Add(1)
		go w.recover(ctx, r, group)
	}
	return nil
}

// recover is the entry point of a run found in flight (Nomad's
// RecoverTask): it rebuilds the run's configuration from Prefect, finds its
// container group, and follows it like a started one; a claim whose worker
// is gone and that has no group goes back to the pool (or ends).
func (w *Worker) recover(ctx context.Context, r *run, group string) {
	defer w.runs.Done()
	defer w.runDone(r)
	if !w.registered(ctx) {
		return
	}
	if w.claimOvertookTheEnd(ctx, r) {
		return
	}
	// A claim cancelled before its worker created anything, and given up
	// by that worker: when nothing can be looked up for it, it ends
	// Cancelled, as Prefect's worker ends such a run.
	unstartedCancel := group == "" && r.origin == abandonedClaim && strings.EqualFold(r.fr.StateType, prefect.StateCancelling)
	cancelUnstarted := func(why error) {
		w.log.Info("cancelling a flow run cancelled before it had infrastructure", "flow_run_id", r.id, "why", w.red.Error(why))
		w.finishUnstartedCancel(ctx, r)
	}
	if r.fr.DeploymentID != "" {
		dep, err := r.reads(w).deployment(ctx, r.fr.DeploymentID)
		if err != nil {
			if unstartedCancel && errors.Is(err, prefect.ErrNotFound) {
				cancelUnstarted(err)
				return
			}
			w.log.Warn("cannot adopt flow run: reading its deployment failed", "flow_run_id", r.id, "err", err)
			return
		}
		r.deployment = dep
	}
	flow, err := r.reads(w).flow(ctx, r.fr.FlowID)
	if err != nil {
		w.log.Warn("cannot adopt flow run: reading its flow failed", "flow_run_id", r.id, "err", err)
		return
	}
	r.flow = flow
	if err := w.configure(ctx, r); err != nil {
		if unstartedCancel {
			cancelUnstarted(err)
			return
		}
		if group == "" && r.origin == abandonedClaim {
			// A claim whose worker died before it could report that the
			// run's configuration is bad: nothing was created, and a
			// hand-back would only fail again, so the run crashes now with
			// the reason its worker would have given.
			w.submissionFailed(ctx, r, err)
			return
		}
		w.runLog(r.id, prefect.LevelError, fmt.Sprintf("Cannot watch flow run '%s' after a worker restart: %v", r.id, w.redactorFor(r.id).Error(err)))
		return
	}
	if group != "" {
		r.group = group
	} else if !w.adoptPending(ctx, r) {
		return
	}
	w.runLog(r.id, prefect.LevelInfo, fmt.Sprintf("Worker '%s' re-adopted flow run '%s' (container group %s)", w.cfg.Name, r.id, r.group))
	w.follow(ctx, r)
	if ctx.Err() == nil {
		w.adoptionEnded(r, w.now())
	}
}

// claimOvertookTheEnd puts back the final state of a run found Pending
// under a claim that replaced it, and says whether the run is to be left
// alone this round (also when it cannot be read, or it moved on since it
// was listed). Such a claim is nothing to follow, hand back or report
// Crashed: its worker died before the check it makes before deploying
// (stillClaimed), or took the claim for lost. The run's pid, if any, is
// that of the run that ended, whose group is gone. Only a run that ran or
// ended before (start_time set) is read again: its history, then its
// record, whose current state must still be the one listed, so that the
// history read holds every state up to it.
func (w *Worker) claimOvertookTheEnd(ctx context.Context, r *run) bool {
	if !strings.EqualFold(r.fr.StateType, prefect.StatePending) || r.fr.StartTime == nil || r.fr.State == nil {
		return false
	}
	states, err := w.history(ctx, r.id)
	var fr *prefect.FlowRun
	if err == nil {
		err = w.retryTransient(ctx, func(ctx context.Context) (err error) {
			fr, err = w.pf.ReadFlowRun(ctx, r.id)
			return err
		})
	}
	if err != nil {
		w.log.Warn("cannot adopt flow run: reading it again failed; retrying next round", "flow_run_id", r.id, "err", err)
		return true
	}
	if fr.State == nil || fr.State.ID != r.fr.State.ID {
		return true // it moved on since the listing: the next round sees where
	}
	prev := overtaken(states, fr.State.ID)
	if prev == nil {
		return false
	}
	w.restoreOvertaken(ctx, r, prev, fmt.Sprintf("Flow run '%s' is Pending under a claim made after it had reached %s ('%s')", r.id, prev.Type, prev.Name))
	return true
}

// finishUnstartedCancel ends a Cancelling run that has no infrastructure.
func (w *Worker) finishUnstartedCancel(ctx context.Context, r *run) {
	if err := w.markCancelled(ctx, r.id, cancelledUnstarted); err != nil {
		w.log.Warn("marking the flow run cancelled failed; retrying next round", "flow_run_id", r.id, "err", err)
		return
	}
	w.runLog(r.id, prefect.LevelInfo, fmt.Sprintf("Cancelled flow run '%s': it was cancelled before its container group was created", r.id))
}

// adoptPending handles a Pending run whose worker stopped while it was
// creating the container group: the group may exist (then it is watched),
// be on its way (next round), or never have been asked for (the run is
// scheduled again).
func (w *Worker) adoptPending(ctx context.Context, r *run) bool {
	c, rg := r.tgt.client, r.tgt.rg
	g, err := c.GetGroup(ctx, rg, r.group)
	if err == nil {
		r.noteContainer(g)
		if err := w.retryTransient(ctx, func(ctx context.Context) error { return w.pf.SetInfrastructurePID(ctx, r.id, PID(r.id, r.group)) }); err != nil {
			w.log.Warn("setting infrastructure_pid failed", "flow_run_id", r.id, "err", err)
		}
		return true
	}
	if !errors.Is(err, aci.ErrNotFound) {
		return false
	}
	res, _, err := c.PollDeployment(ctx, rg, r.deploymentName())
	switch {
	case errors.Is(err, aci.ErrNotFound):
		// Claimed, never submitted: nothing ran, so the run goes back to
		// the pool rather than being lost as Crashed, once its claim is
		// surely abandoned (else its worker may be about to deploy). A
		// claim cancelled since ends Cancelled instead.
		switch {
		case r.origin != abandonedClaim:
		case strings.EqualFold(r.fr.StateType, prefect.StateCancelling):
			w.finishUnstartedCancel(ctx, r)
		default:
			w.reschedule(ctx, r)
		}
	case err != nil, res == nil:
		// Still deploying, or Azure did not answer: look again next round.
	case !res.Succeeded():
		w.submissionFailed(ctx, r, w.provisioningFailed(ctx, r, res))
	default:
		w.submissionFailed(ctx, r, submitErr("RuntimeError", fmt.Errorf("container group %s is gone although its deployment succeeded", r.group)))
	}
	return false
}

// reschedule hands a claimed but never submitted run back to the pool: it
// becomes Scheduled for now, and whichever worker's Pending proposal wins
// runs it. Prefect has no conditional write, so everything the decision
// rests on is looked at again, Azure last, right before the write: the
// claim (a new Pending state is a new claim), whether it is still
// abandoned (its worker may have labelled it or been heard from since the
// adoption round), and whether its deployment has appeared (its worker was
// alive after all). What slips through the remaining moment is caught by
// the next claimant, which looks for the deployment before it deploys and
// at the state history for a finished run the hand-back overtook.
func (w *Worker) reschedule(ctx context.Context, r *run) {
	// The adoption round has just read the run, the workers and Azure. The
	// mark goes first: a mark on a run that was not handed back after
	// all costs its next claimant one read; a hand-back without the mark
	// could have the run deployed twice.
	if err := w.pf.UpdateFlowRunLabels(ctx, r.id, map[string]string{rescheduledLabel: w.cfg.Name}); err != nil {
		w.log.Warn("marking an orphaned flow run failed; retrying next round", "flow_run_id", r.id, "err", err)
		return
	}
	// A busy server can take seconds over the mark, time enough for the
	// claim's worker to wake up and deploy: everything the round decided
	// on is looked at again.
	fr, ok := w.stillOrphaned(ctx, r)
	if !ok {
		return
	}
	// Scheduled for now on the wall clock, which is Prefect's: the rules'
	// clock (w.now) is the system's in production, but a time written to
	// Prefect is never one a test has moved.
	now := time.Now().UTC()
	owner := runOwner(fr)
	if owner == "" {
		owner = "an unknown worker"
	} else {
		owner = fmt.Sprintf("worker '%s'", owner)
	}
	msg := fmt.Sprintf("%s'%s': the flow run was claimed by %s, which stopped before it created the container group", reschedulePrefix, w.cfg.Name, owner)
	st := prefect.StateCreate{Type: prefect.StateScheduled, Name: "Scheduled", Message: msg,
		StateDetails: prefect.StateDetails{ScheduledTime: &now, TransitionID: prefect.NewTransitionID()}}
	res, err := w.pf.SetFlowRunState(ctx, r.id, st, false)
	switch {
	case err != nil:
		w.log.Warn("rescheduling an orphaned flow run failed; retrying next round", "flow_run_id", r.id, "err", err)
	case res.Status == prefect.StatusAccept:
		w.runLog(r.id, prefect.LevelWarning, msg)
	default:
		w.log.Info("the server refused to reschedule an orphaned flow run", "flow_run_id", r.id, "status", res.Status, "reason", res.Details.Reason)
	}
}

// stillOrphaned re-reads what makes a claim abandoned: the run is still in
// the Pending state the adoption round saw, its worker is still silent, and
// its deployment does not exist.
func (w *Worker) stillOrphaned(ctx context.Context, r *run) (*prefect.FlowRun, bool) {
	fr, err := w.pf.ReadFlowRun(ctx, r.id)
	if err != nil {
		w.log.Warn("re-reading an orphaned flow run failed; retrying next round", "flow_run_id", r.id, "err", err)
		return nil, false
	}
	if fr.StateType != prefect.StatePending || fr.State == nil || r.fr.State == nil || fr.State.ID != r.fr.State.ID {
		return nil, false // moved on since: not orphaned any more
	}
	pw, err := w.poolWorkers(ctx)
	if err != nil {
		w.log.Warn("listing the pool's workers failed; retrying next round", "flow_run_id", r.id, "err", err)
		return nil, false
	}
	if !claimAbandoned(fr, w.cfg.Name, pw.lastSeen, w.now(), w.cfg.OrphanAfter) {
		return nil, false
	}
	if _, _, err := r.tgt.client.PollDeployment(ctx, r.tgt.rg, r.deploymentName()); !errors.Is(err, aci.ErrNotFound) {
		return nil, false // deploying after all, or Azure did not answer: next round
	}
	return fr, true
}
