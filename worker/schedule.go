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

// observation is what one round learned about a run.
type observation struct {
	PrefectKnown bool   // the Prefect query answered
	RunMissing   bool   // ... and the run was not there (deleted)
	StateType    string // the run's state type
	ListKnown    bool   // the resource group list answered
	InList       bool   // ... and held the group
	Provisioning string // the group's provisioning state in the list
}

// watchState is what the watcher remembers about a run between rounds.
type watchState struct {
	CancellingSince time.Time
	TerminalSince   time.Time
}

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
			if st.TerminalSince.IsZero() {
				st.TerminalSince = now
			}
			// The engine reported its final state: the container ends
			// now, read it for the exit code.
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
