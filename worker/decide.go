package worker

import (
	"strings"
	"time"

	"github.com/aciworker/aciworker/prefect"
)

// The pure deciders: who a run belongs to, whether it may be adopted,
// handed back or swept, whether a claim is ours and stays ours. Each takes
// what it decides on (and now, where time matters), touches nothing, and
// is table-tested.

// runOwner is the worker a run belongs to: for a Pending run, the worker its
// claim names (the current state was written by it, whatever the labels
// say); otherwise, or for a claim by a worker that does not name itself
// (Prefect's), the owner label.
func runOwner(fr *prefect.FlowRun) string {
	if strings.EqualFold(fr.StateType, prefect.StatePending) && fr.State != nil {
		m := fr.State.Message
		if strings.HasPrefix(m, claimPrefix) && strings.HasSuffix(m, claimSuffix) && len(m) > len(claimPrefix)+len(claimSuffix) {
			return m[len(claimPrefix) : len(m)-len(claimSuffix)]
		}
	}
	o, _ := fr.Labels[ownerLabel].(string)
	return o
}

// rescheduled says whether the run was handed back to the pool by orphan
// recovery: its previous claim's worker may have deployed after all.
func rescheduled(fr *prefect.FlowRun) bool {
	by, _ := fr.Labels[rescheduledLabel].(string)
	return by != ""
}

// adoptable decides whether a run nobody in this process watches is ours
// to take over.
func adoptable(fr *prefect.FlowRun, me string, online map[string]bool, now time.Time, orphanAfter time.Duration) bool {
	switch owner := runOwner(fr); {
	case owner == me:
		return true
	case owner != "":
		return !online[owner]
	}
	// Claimed but not labelled: its worker is normally busy labelling it,
	// unless the claim is old and nothing was ever created for it. A
	// claim cancelled since (Cancelling with no pid) is the same claim.
	if !pendingOrCancelling(fr) || fr.InfrastructurePID != "" || fr.State == nil || fr.State.Timestamp == nil {
		return false
	}
	return now.Sub(*fr.State.Timestamp) > orphanAfter
}

func pendingOrCancelling(fr *prefect.FlowRun) bool {
	return strings.EqualFold(fr.StateType, prefect.StatePending) || strings.EqualFold(fr.StateType, prefect.StateCancelling)
}

// claimAbandoned decides whether a Pending run with nothing created for it
// may go back to the pool. Giving back a run whose worker is alive but slow
// would have it run twice, so more than "not online" is asked for: the
// claim must be older than orphanAfter and a named owner must have been
// silent (no heartbeat) for as long. Prefect marks a worker offline after
// three missed heartbeats, which an overloaded server alone can cause. A
// claim in this worker's own name is the claim of a process that is gone
// (a restart), so it goes back at once.
func claimAbandoned(fr *prefect.FlowRun, me string, lastSeen map[string]time.Time, now time.Time, orphanAfter time.Duration) bool {
	owner := runOwner(fr)
	if owner == me {
		return true // this worker's name: the process that claimed it is gone
	}
	if fr.State == nil || fr.State.Timestamp == nil || now.Sub(*fr.State.Timestamp) <= orphanAfter {
		return false
	}
	if owner == "" {
		return true
	}
	seen, ok := lastSeen[owner]
	return !ok || now.Sub(seen) > orphanAfter
}

// claimedBy says whether st, a run's current state, is the Pending state
// proposed with transition id claim.
func claimedBy(st *prefect.State, claim string) bool {
	if st == nil || st.Type != prefect.StatePending {
		return false
	}
	if claim == "" || st.StateDetails.TransitionID == "" {
		return true // nothing to compare: the type is all we know
	}
	return st.StateDetails.TransitionID == claim
}

// ownClaim says whether an orchestration answer to our Pending proposal
// (transition id tid) leaves the run in our claim: accepted, or rejected as
// a replay of a proposal the server had already applied.
func ownClaim(res *prefect.OrchestrationResult, tid string) bool {
	if res.State == nil || res.State.Type != prefect.StatePending {
		return false
	}
	if res.Status == prefect.StatusAccept {
		return true
	}
	got := res.State.StateDetails.TransitionID
	return got == "" || got == tid
}

// overtaken reads a run's state history, oldest first, whose last state is
// a claim just accepted, and returns the final state that claim replaced:
// the state before it once hand-backs by orphan recovery and Late marks
// (neither of which starts a run) are passed over. A claim of a run that
// was waiting to run returns nil.
func overtaken(states []prefect.State) *prefect.State {
	i := len(states) - 2
	for i >= 0 && (isLateMark(&states[i]) || isHandBack(&states[i])) {
		i--
	}
	if i < 0 || !isTerminal(states[i].Type) {
		return nil
	}
	return &states[i]
}

func isLateMark(st *prefect.State) bool {
	return st.Type == prefect.StateScheduled && st.Name == "Late"
}

func isHandBack(st *prefect.State) bool {
	return st.Type == prefect.StateScheduled && strings.HasPrefix(st.Message, reschedulePrefix)
}

// staleRun decides whether reconcile may remove what Azure holds for a
// run of this pool: its container group or its deployment record. Only
// runs that are final (or deleted) qualify, so a run another live worker
// is still provisioning or watching is never touched.
func staleRun(fr *prefect.FlowRun, found bool, me string, online map[string]bool, now time.Time) bool {
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
