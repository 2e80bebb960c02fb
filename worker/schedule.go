package worker

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/aciworker/aciworker/prefect"
)

// The watcher's pure decisions: what one round of observations means for a
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
	TimedOut         bool   // task_start_timeout_seconds has passed
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
	if o.TimedOut {
		return provTimedOut
	}
	return provWait
}
