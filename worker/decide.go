package worker

import (
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aciworker/aciworker/prefect"
)

// The pure deciders, table-tested in decide_test.go. Each takes what it
// decides on (and now, where time matters) and touches nothing: the
// watcher's (what a round's observations mean for a run, how reads are
// paced and spread over the read budget) and the ownership ones (who a run
// belongs to, whether it may be adopted, handed back or swept, whether a
// claim is ours and stays ours).

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

// maxAdoptBackoff bounds the wait before a run whose adoption ended
// without moving it is adopted again.
const maxAdoptBackoff = 10 * time.Minute

// readoptAt is when a run may be adopted again after its tries-th
// adoption in a row ended, at now, with the run in the state it was
// adopted in: the adoption interval doubled per try, at most
// maxAdoptBackoff.
func readoptAt(now time.Time, tries int, interval time.Duration) time.Time {
	return now.Add(min(interval<<min(tries, 16), maxAdoptBackoff))
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

// overtaken reads a run's state history, as the server lists it, and the
// id of its current state, a claim just accepted, and returns the final
// state that claim replaced: the state before it once hand-backs by orphan
// recovery and Late marks (neither of which starts a run) are passed over.
// A claim of a run that was waiting to run returns nil.
//
// The server orders the history by each state's timestamp, which it sets
// when it reads the proposal, before the proposal waits for the database:
// a claim that waited (Prefect on SQLite under load) is stamped before
// states committed ahead of it, the very state it replaced among them. So
// the current state is taken as the last one, whatever its stamp; every
// other state was committed before it.
func overtaken(states []prefect.State, current string) *prefect.State {
	i := slices.IndexFunc(states, func(st prefect.State) bool { return st.ID == current })
	if i < 0 {
		return nil // not in the history read: nothing to say
	}
	before := slices.Delete(slices.Clone(states), i, i+1)
	j := len(before) - 1
	for j >= 0 && (isLateMark(&before[j]) || isHandBack(&before[j])) {
		j--
	}
	if j < 0 || !isTerminal(before[j].Type) {
		return nil
	}
	return &before[j]
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

// The watcher's decisions: what one round of observations means for a
// run, and how the read budget is spread over runs.

// readPlan spreads a share of the subscription's read budget over the
// runs in flight.
type readPlan struct {
	ReadsPerSecond float64       // the subscription's sustained read budget
	Share          float64       // part of it for routine group reads
	Interval       time.Duration // the watch round
}

// perRound is how many routine reads one round may spend.
func (p readPlan) perRound() int {
	return int(math.Floor(p.ReadsPerSecond * p.Share * p.Interval.Seconds()))
}

// period is how often each of n runs gets a routine read: every round while
// the budget allows, less often as runs grow, so that the total stays at
// the budget's share however many runs there are.
func (p readPlan) period(n int) time.Duration {
	rate := p.ReadsPerSecond * p.Share
	if rate <= 0 {
		return p.Interval
	}
	d := time.Duration(float64(n) / rate * float64(time.Second))
	if d < p.Interval {
		return p.Interval
	}
	return d
}

// pickDue returns the indexes of up to capacity runs whose next routine
// read is due, most overdue first.
func pickDue(next []time.Time, now time.Time, capacity int) []int {
	if capacity <= 0 {
		return nil
	}
	var due []int
	for i, t := range next {
		if !t.After(now) {
			due = append(due, i)
		}
	}
	sort.SliceStable(due, func(a, b int) bool { return next[due[a]].Before(next[due[b]]) })
	if len(due) > capacity {
		due = due[:capacity]
	}
	return due
}

// checkSchedule paces the reads of a run's group that look for a death
// nothing else reports: a container killed for memory or lost with its
// node never lets its engine report to Prefect, and ARM's list of groups
// carries no instance view, so only a read of the group shows it. Reads
// come at growing intervals from the run's start: the first after First,
// then each after a gap as long as the run's age so far, at most MaxGap. A
// run shorter than First costs no such read, and a death is seen within
// about the run's age at the time (at least First, at most MaxGap).
type checkSchedule struct {
	First, MaxGap time.Duration
}

// next is when the group of a run started at start and last read at last
// (zero: never) is read next.
func (c checkSchedule) next(start, last time.Time) time.Time {
	first := start.Add(c.First)
	if last.Before(first) {
		return first
	}
	return last.Add(min(last.Sub(start), c.MaxGap))
}

// observation is what one round learned about a run.
type observation struct {
	PrefectKnown bool   // the Prefect query answered
	RunMissing   bool   // ... and the run was not there (deleted)
	StateType    string // the run's state type
	// StateAt is when the run entered that state, by the server's clock;
	// zero when unknown.
	StateAt      time.Time
	ListKnown    bool   // the resource group list answered
	InList       bool   // ... and held the group
	Provisioning string // the group's provisioning state in the list
}

// watchState is what the watcher remembers about a run between rounds.
type watchState struct {
	CancellingSince time.Time
	TerminalSince   time.Time
}

// exitSettle is how long after its engine reported the final state a
// container is given to exit before its group is read for the exit code.
const exitSettle = 3 * time.Second

type action int

const (
	actNone    action = iota
	actRead           // read the group now: something changed
	actRunGone        // the flow run was deleted: clean up
	actKill           // Cancelling past the grace period: remove the group
)

func isTerminal(stateType string) bool {
	switch strings.ToUpper(stateType) {
	case prefect.StateCompleted, prefect.StateFailed, prefect.StateCancelled, prefect.StateCrashed:
		return true
	}
	return false
}

// engineReported says whether a run in this state has had its engine
// report to Prefect: it left Pending (and Scheduled) for Running, or more.
func engineReported(stateType string) bool {
	switch strings.ToUpper(stateType) {
	case "", prefect.StatePending, prefect.StateScheduled:
		return false
	}
	return true
}

// decide turns an observation into the round's action for a run.
func decide(now time.Time, o observation, st *watchState, cancelGrace time.Duration) action {
	if o.PrefectKnown {
		if o.RunMissing {
			return actRunGone
		}
		if strings.EqualFold(o.StateType, prefect.StateCancelling) {
			if st.CancellingSince.IsZero() {
				st.CancellingSince = now
			}
			// A negative grace turns worker-side cancellation off
			// (PREFECT_WORKER_ENABLE_CANCELLATION=false): the run's own
			// engine stops it.
			if cancelGrace >= 0 && now.Sub(st.CancellingSince) >= cancelGrace {
				return actKill
			}
		} else {
			st.CancellingSince = time.Time{}
		}
		if isTerminal(o.StateType) {
			first := st.TerminalSince.IsZero()
			if first {
				st.TerminalSince = now
			}
			// The engine reported its final state: the container ends
			// now, read it for the exit code. A state only just set (a
			// round woken by its announcement) waits a round, so that
			// the one read finds the container ended; a server clock
			// ahead of ours delays the read by a round at most.
			if first && !o.StateAt.IsZero() && now.Sub(o.StateAt) < exitSettle {
				return actNone
			}
			return actRead
		}
	}
	if o.ListKnown {
		if !o.InList {
			return actRead // vanished, or a list that lags: a read tells
		}
		if o.Provisioning != "" && !strings.EqualFold(o.Provisioning, "Succeeded") {
			return actRead
		}
	}
	return actNone
}

// provObservation is what one round learned about a run whose submitted
// deployment the watcher follows until its container group has started.
type provObservation struct {
	StateType        string // the run's Prefect state type; "" when unknown
	ListKnown        bool   // the group list answered
	InList           bool   // ... and held the group
	GroupState       string // ... in this provisioning state
	DeploymentsKnown bool   // the deployment list answered
	DeploymentListed bool   // ... and held the run's deployment
	DeploymentState  string // ... in this provisioning state
	// StartBy is task_start_timeout_seconds' deadline (zero: none),
	// ListedAt when the group list that answered was asked for, Now the
	// round's time.
	StartBy, ListedAt, Now time.Time
}

// armSilentGrace is how long past its start deadline a run waits for a
// group list to answer before it times out unseen: a worker cut off from
// ARM still ends every run, in the end.
const armSilentGrace = 10 * time.Minute

// timedOut says whether the run's group failed to start in time: still not
// started in a group list asked for after the deadline. The deadline alone
// is not enough: a round whose lists failed, or that a slow Prefect held
// up, has not looked, and a group that started meanwhile would be reported
// as never started. Only an ARM silent for armSilentGrace more ends it
// unseen.
func (o provObservation) timedOut() bool {
	if o.StartBy.IsZero() {
		return false
	}
	if o.ListKnown && o.ListedAt.After(o.StartBy) {
		return true
	}
	return o.Now.Sub(o.StartBy) > armSilentGrace
}

type provVerdict int

const (
	provWait         provVerdict = iota // still provisioning: nothing to read
	provDone                            // started: watch it as any other run
	provReadGroup                       // the group failed: read it for why
	provDeployFailed                    // the deployment failed: read it for why
	provTimedOut                        // it did not start in time
)

// provisioning decides what a round's lists say about a run still
// provisioning. Failures win over the timeout, so that a run that failed
// late is reported with Azure's reason.
func provisioning(o provObservation) provVerdict {
	switch st := strings.ToUpper(o.StateType); {
	case st != "" && st != prefect.StatePending && st != prefect.StateScheduled:
		// The engine reports (Running), or the run ended or is being
		// cancelled: the ordinary watch takes it from here.
		return provDone
	}
	if o.ListKnown && o.InList {
		switch {
		case strings.EqualFold(o.GroupState, "Succeeded"):
			return provDone
		case strings.EqualFold(o.GroupState, "Failed"):
			return provReadGroup
		}
	}
	if o.DeploymentsKnown && o.DeploymentListed {
		switch {
		case strings.EqualFold(o.DeploymentState, "Failed"), strings.EqualFold(o.DeploymentState, "Canceled"):
			return provDeployFailed
		case strings.EqualFold(o.DeploymentState, "Succeeded") && o.ListKnown && !o.InList:
			// Deployed, then gone: a read proves the absence.
			return provReadGroup
		}
	}
	if o.timedOut() {
		return provTimedOut
	}
	return provWait
}

// pollWake decides whether an event from Prefect's stream means runs of
// this worker's pool (and queues; none means all) may be due now, so that
// a poll should not wait out its interval: the pool or one of its queues
// resumed (or otherwise changed status), or a run of it became Scheduled
// (created, handed back). A run the scheduler service made ahead of time
// (tag auto-scheduled) or a retry (AwaitingRetry) is due later, and the
// regular polls, which look PREFETCH ahead, find it in time; a run marked
// Late was due 15 s before, so a poll has had it on offer already, and in
// a burst the server marks hundreds of runs Late while they wait for their
// claims, whose wakes would only add polls to a busy server.
func pollWake(ev prefect.Event, poolID string, queues []string) bool {
	if poolID == "" {
		return false
	}
	switch ev.Event {
	case "prefect.work-pool.ready", "prefect.work-pool.not-ready":
		return ev.Resource["prefect.resource.id"] == "prefect.work-pool."+poolID
	case "prefect.work-queue.ready", "prefect.work-queue.not-ready":
		pool, _, _ := ev.RelatedTo("work-pool")
		return pool == poolID && queueWanted(ev.Resource["prefect.resource.name"], queues)
	}
	st, ok := ev.FlowRunState()
	if !ok || st.StateType != prefect.StateScheduled || st.StateName != "Scheduled" {
		return false
	}
	if pool, _, _ := ev.RelatedTo("work-pool"); pool != poolID {
		return false
	}
	if _, queue, ok := ev.RelatedTo("work-queue"); ok && !queueWanted(queue, queues) {
		return false
	}
	for _, r := range ev.Related {
		if r["prefect.resource.id"] == "prefect.tag.auto-scheduled" {
			return false
		}
	}
	return true
}

func queueWanted(name string, queues []string) bool {
	return len(queues) == 0 || slices.Contains(queues, name)
}
