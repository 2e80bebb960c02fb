package worker

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aciworker/aciworker/prefect"
)

func TestReadPlan(t *testing.T) {
	p := readPlan{ReadsPerSecond: 20, Share: 0.5, Interval: 5 * time.Second}
	if got := p.perRound(); got != 50 {
		t.Errorf("perRound = %d, want 50", got)
	}
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, 5 * time.Second}, {50, 5 * time.Second}, {100, 10 * time.Second}, {500, 50 * time.Second}, {5000, 500 * time.Second}} {
		if got := p.period(tc.n); got != tc.want {
			t.Errorf("period(%d) = %s, want %s", tc.n, got, tc.want)
		}
		// However many runs, routine reads stay within the share.
		if rate := float64(tc.n) / p.period(tc.n).Seconds(); rate > 10.0001 {
			t.Errorf("n=%d: %.2f reads/s over the 10/s share", tc.n, rate)
		}
	}
}

func TestPickDue(t *testing.T) {
	now := time.Unix(1000, 0)
	next := []time.Time{now.Add(time.Second), now.Add(-3 * time.Second), now, now.Add(-time.Second), now.Add(-5 * time.Second)}
	if got, want := pickDue(next, now, 2), []int{4, 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("pickDue cap 2 = %v, want %v", got, want)
	}
	if got, want := pickDue(next, now, 10), []int{4, 1, 3, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("pickDue cap 10 = %v, want %v", got, want)
	}
	if got := pickDue(next, now, 0); got != nil {
		t.Errorf("pickDue cap 0 = %v", got)
	}
}

func TestDecide(t *testing.T) {
	now := time.Unix(1000, 0)
	grace := 10 * time.Second
	for _, tc := range []struct {
		name string
		o    observation
		st   watchState
		want action
	}{
		{"running, listed", observation{PrefectKnown: true, StateType: "RUNNING", ListKnown: true, InList: true, Provisioning: "Succeeded"}, watchState{}, actNone},
		{"completed in Prefect", observation{PrefectKnown: true, StateType: "COMPLETED", ListKnown: true, InList: true}, watchState{}, actRead},
		{"completed a while ago", observation{PrefectKnown: true, StateType: "COMPLETED", StateAt: now.Add(-exitSettle)}, watchState{}, actRead},
		{"completed just now: the container is given time to exit", observation{PrefectKnown: true, StateType: "COMPLETED", StateAt: now.Add(-time.Second)}, watchState{}, actNone},
		{"completed just now, seen final a round ago", observation{PrefectKnown: true, StateType: "COMPLETED", StateAt: now.Add(-time.Second)}, watchState{TerminalSince: now.Add(-time.Second)}, actRead},
		{"a server clock ahead waits a round at most", observation{PrefectKnown: true, StateType: "FAILED", StateAt: now.Add(time.Minute)}, watchState{TerminalSince: now.Add(-time.Second)}, actRead},
		{"run deleted", observation{PrefectKnown: true, RunMissing: true}, watchState{}, actRunGone},
		{"missing from list", observation{PrefectKnown: true, StateType: "RUNNING", ListKnown: true}, watchState{}, actRead},
		{"provisioning", observation{PrefectKnown: true, StateType: "PENDING", ListKnown: true, InList: true, Provisioning: "Creating"}, watchState{}, actRead},
		{"cancelling, in grace", observation{PrefectKnown: true, StateType: "CANCELLING", ListKnown: true, InList: true}, watchState{CancellingSince: now.Add(-time.Second)}, actNone},
		{"cancelling, grace over", observation{PrefectKnown: true, StateType: "CANCELLING"}, watchState{CancellingSince: now.Add(-grace)}, actKill},
		{"nothing known", observation{}, watchState{}, actNone},
	} {
		st := tc.st
		if got := decide(now, tc.o, &st, grace); got != tc.want {
			t.Errorf("%s: decide = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Cancellation off: a Cancelling run's group is left to its engine.
	off := watchState{CancellingSince: now.Add(-time.Hour)}
	if got := decide(now, observation{PrefectKnown: true, StateType: "CANCELLING"}, &off, -1); got != actNone {
		t.Errorf("cancellation off: decide = %v, want actNone", got)
	}
	st := watchState{}
	decide(now, observation{PrefectKnown: true, StateType: "CANCELLING"}, &st, grace)
	if !st.CancellingSince.Equal(now) {
		t.Errorf("first Cancelling sighting not recorded: %v", st.CancellingSince)
	}
	decide(now, observation{PrefectKnown: true, StateType: "RUNNING"}, &st, grace)
	if !st.CancellingSince.IsZero() {
		t.Error("leaving Cancelling did not reset the grace period")
	}
}

func TestAdoptable(t *testing.T) {
	online := map[string]bool{"alive": true}
	now := time.Unix(10000, 0)
	const orphanAfter = time.Minute
	mk := func(owner any, typ string, age time.Duration, pid string) *prefect.FlowRun {
		at := now.Add(-age)
		fr := ownedRun(owner, prefect.State{Type: typ, Timestamp: &at})
		fr.InfrastructurePID = pid
		return fr
	}
	for _, tc := range []struct {
		name string
		fr   *prefect.FlowRun
		want bool
	}{
		{"mine", mk("me", "RUNNING", time.Second, "x:y"), true},
		{"live owner", mk("alive", "RUNNING", time.Hour, "x:y"), false},
		{"dead owner", mk("dead", "RUNNING", time.Second, "x:y"), true},
		{"unlabelled, just claimed", mk(nil, "PENDING", time.Second, ""), false},
		{"unlabelled, claimed long ago", mk(nil, "PENDING", 2*time.Minute, ""), true},
		{"unlabelled, old, has a pid", mk(nil, "PENDING", 2*time.Minute, "x:y"), false},
		{"unlabelled, old, running", mk(nil, "RUNNING", 2*time.Minute, ""), false},
		{"unlabelled claim cancelled long ago", mk(nil, "CANCELLING", 2*time.Minute, ""), true},
		{"unlabelled claim just cancelled", mk(nil, "CANCELLING", time.Second, ""), false},
		{"unlabelled, no state timestamp", &prefect.FlowRun{StateType: "PENDING"}, false},
		{"claim names a live worker, labelled dead", claimedAs(mk("dead", "PENDING", time.Hour, ""), "alive"), false},
		{"claim names me", claimedAs(mk(nil, "PENDING", time.Second, ""), "me"), true},
	} {
		if got := adoptable(tc.fr, "me", online, now, orphanAfter); got != tc.want {
			t.Errorf("%s: adoptable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestClaimedBy(t *testing.T) {
	pending := func(tid string) *prefect.State {
		return &prefect.State{Type: "PENDING", StateDetails: prefect.StateDetails{TransitionID: tid}}
	}
	for _, tc := range []struct {
		name  string
		st    *prefect.State
		claim string
		want  bool
	}{
		{"our pending", pending("t1"), "t1", true},
		{"another worker's pending", pending("t2"), "t1", false},
		{"rescheduled", &prefect.State{Type: "SCHEDULED"}, "t1", false},
		{"pending without transition id", pending(""), "t1", true},
		{"no state", nil, "t1", false},
	} {
		if got := claimedBy(tc.st, tc.claim); got != tc.want {
			t.Errorf("%s: claimedBy = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestOvertaken(t *testing.T) {
	st := func(typ, name, msg string) prefect.State { return prefect.State{Type: typ, Name: name, Message: msg} }
	var (
		scheduled = st("SCHEDULED", "Scheduled", "")
		late      = st("SCHEDULED", "Late", "")
		retry     = st("SCHEDULED", "AwaitingRetry", "")
		handBack  = st("SCHEDULED", "Scheduled", "Rescheduled by worker 'b': the flow run was claimed by worker 'a', which stopped before it created the container group")
		pending   = st("PENDING", "Pending", "Claimed by worker 'a'")
		running   = st("RUNNING", "Running", "")
		completed = st("COMPLETED", "Completed", "done")
		failed    = st("FAILED", "Failed", "")
		crashed   = st("CRASHED", "Crashed", "")
		claim     = st("PENDING", "Pending", "Claimed by worker 'c'")
	)
	claim.ID = "current"
	for _, tc := range []struct {
		name    string
		history []prefect.State // as the server lists it; the current state's id is "current"
		want    string          // the name of the state to restore; "" for none
	}{
		{"claim of a new run", []prefect.State{scheduled, claim}, ""},
		{"claim of a late run", []prefect.State{scheduled, late, claim}, ""},
		{"claim of a retry", []prefect.State{scheduled, pending, running, failed, retry, claim}, ""},
		{"claim after a rightful hand-back", []prefect.State{scheduled, pending, handBack, claim}, ""},
		{"hand-back after a rightful hand-back went late", []prefect.State{scheduled, pending, handBack, late, claim}, ""},
		{"hand-back that overtook a running flow", []prefect.State{scheduled, pending, running, handBack, claim}, ""},
		{"claim of a run that finished meanwhile", []prefect.State{scheduled, pending, running, completed, claim}, "Completed"},
		{"claim of a run that crashed meanwhile", []prefect.State{scheduled, pending, crashed, claim}, "Crashed"},
		{"hand-back that overtook the run's end", []prefect.State{scheduled, pending, running, completed, handBack, claim}, "Completed"},
		{"the same, marked late since", []prefect.State{scheduled, pending, running, completed, handBack, late, claim}, "Completed"},
		{"two late hand-backs over the run's end", []prefect.State{scheduled, pending, running, completed, handBack, handBack, claim}, "Completed"},
		{"a user's rerun of a finished run", []prefect.State{scheduled, pending, running, completed, scheduled, claim}, ""},
		{"only the claim", []prefect.State{claim}, ""},
		// The server stamps a state when it reads the proposal: a claim that
		// waited for the database is listed before states committed ahead
		// of it (seen on Prefect 3.8.8 with SQLite).
		{"claim stamped before the end it replaced", []prefect.State{scheduled, claim, pending, running, completed}, "Completed"},
		{"claim stamped before a hand-back over the end", []prefect.State{scheduled, pending, running, completed, claim, handBack}, "Completed"},
		{"claim stamped before a run that is still going", []prefect.State{scheduled, claim, pending, running}, ""},
		{"the current state not in the history read", []prefect.State{scheduled, pending, running, completed}, ""},
	} {
		got := overtaken(tc.history, "current")
		name := ""
		if got != nil {
			name = got.Name
		}
		if name != tc.want {
			t.Errorf("%s: overtaken = %q, want %q", tc.name, name, tc.want)
		}
	}
}

func TestStaleRun(t *testing.T) {
	now := time.Unix(10000, 0)
	recent, old := now.Add(-time.Second), now.Add(-time.Hour)
	online := map[string]bool{"alive": true}
	mk := func(typ, owner string, at time.Time) *prefect.FlowRun {
		return &prefect.FlowRun{StateType: typ, Labels: map[string]any{ownerLabel: owner}, State: &prefect.State{Timestamp: &at}}
	}
	for _, tc := range []struct {
		name  string
		fr    *prefect.FlowRun
		found bool
		want  bool
	}{
		{"run deleted", &prefect.FlowRun{}, false, true},
		{"running", mk("RUNNING", "me", old), true, false},
		{"pending, being provisioned by another worker", mk("PENDING", "", old), true, false},
		{"final, mine", mk("COMPLETED", "me", recent), true, true},
		{"final, dead owner", mk("FAILED", "dead", recent), true, true},
		{"final recently, live owner", mk("COMPLETED", "alive", recent), true, false},
		{"final long ago, live owner", mk("CRASHED", "alive", old), true, true},
	} {
		if got := staleRun(tc.fr, tc.found, "me", online, now); got != tc.want {
			t.Errorf("%s: staleRun = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestClaimAbandoned(t *testing.T) {
	now := time.Unix(10000, 0)
	const orphanAfter = time.Minute
	lastSeen := map[string]time.Time{"slow": now.Add(-10 * time.Second), "dead": now.Add(-time.Hour)}
	mk := func(owner string, age time.Duration) *prefect.FlowRun {
		at := now.Add(-age)
		return ownedRun(owner, prefect.State{Type: "PENDING", Timestamp: &at})
	}
	for _, tc := range []struct {
		name string
		fr   *prefect.FlowRun
		want bool
	}{
		{"unlabelled, recent claim", mk("", 10*time.Second), false},
		{"unlabelled, old claim", mk("", 2*time.Minute), true},
		{"mine, old claim", mk("me", 2*time.Minute), true},
		{"mine, recent claim (a restart)", mk("me", time.Second), true},
		{"owner offline but heard from lately", mk("slow", 2*time.Minute), false},
		{"owner silent for long", mk("dead", 2*time.Minute), true},
		{"owner never heard from", mk("unknown", 2*time.Minute), true},
		{"no state timestamp", &prefect.FlowRun{StateType: "PENDING"}, false},
		{"unlabelled, old, claim names a live worker", claimedAs(mk("", 2*time.Minute), "slow"), false},
		{"labelled dead, claim names a live worker", claimedAs(mk("dead", 2*time.Minute), "slow"), false},
		{"unlabelled, recent, claim names me", claimedAs(mk("", time.Second), "me"), true},
	} {
		if got := claimAbandoned(tc.fr, "me", lastSeen, now, orphanAfter); got != tc.want {
			t.Errorf("%s: claimAbandoned = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// ownedRun is a flow run in state st whose owner label is owner; a nil
// or empty owner leaves the run unlabelled.
func ownedRun(owner any, st prefect.State) *prefect.FlowRun {
	fr := &prefect.FlowRun{StateType: st.Type, Labels: map[string]any{}, State: &st}
	if owner != nil && owner != "" {
		fr.Labels[ownerLabel] = owner
	}
	return fr
}

// claimedAs gives a Pending run the claim message of worker.
func claimedAs(fr *prefect.FlowRun, worker string) *prefect.FlowRun {
	st := *fr.State
	st.Message = claimMessage(worker)
	fr.State = &st
	return fr
}

func TestRunOwner(t *testing.T) {
	mk := func(typ, label, message string) *prefect.FlowRun {
		return ownedRun(label, prefect.State{Type: typ, Message: message})
	}
	for _, tc := range []struct {
		name string
		fr   *prefect.FlowRun
		want string
	}{
		{"pending, claim message", mk("PENDING", "", claimMessage("w1")), "w1"},
		{"pending, claim message wins over the label", mk("PENDING", "w2", claimMessage("w1")), "w1"},
		{"pending, Prefect's claim (no message)", mk("PENDING", "w2", ""), "w2"},
		{"pending, another message", mk("PENDING", "w2", "Waiting for infrastructure"), "w2"},
		{"pending, empty name in the message", mk("PENDING", "w2", claimMessage("")), "w2"},
		{"running: the label", mk("RUNNING", "w2", claimMessage("w1")), "w2"},
		{"nothing", mk("PENDING", "", ""), ""},
		{"no state", &prefect.FlowRun{StateType: "PENDING"}, ""},
		{"a name with a quote", mk("PENDING", "", claimMessage("o'brien")), "o'brien"},
	} {
		if got := runOwner(tc.fr); got != tc.want {
			t.Errorf("%s: runOwner = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestOwnClaim(t *testing.T) {
	res := func(status, typ, tid string) *prefect.OrchestrationResult {
		r := &prefect.OrchestrationResult{Status: status}
		if typ != "" {
			r.State = &prefect.State{Type: typ, StateDetails: prefect.StateDetails{TransitionID: tid}}
		}
		return r
	}
	for _, tc := range []struct {
		name string
		res  *prefect.OrchestrationResult
		want bool
	}{
		{"accepted", res(prefect.StatusAccept, "PENDING", "t1"), true},
		{"rejected as a replay of ours", res(prefect.StatusReject, "PENDING", "t1"), true},
		{"rejected, another claim", res(prefect.StatusReject, "PENDING", "t2"), false},
		{"rejected, running", res(prefect.StatusReject, "RUNNING", "t2"), false},
		{"rejected, no state", res(prefect.StatusReject, "", ""), false},
		{"rejected, pending without transition id", res(prefect.StatusReject, "PENDING", ""), true},
	} {
		if got := ownClaim(tc.res, "t1"); got != tc.want {
			t.Errorf("%s: ownClaim = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRescheduled(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]any
		want   bool
	}{
		{map[string]any{rescheduledLabel: "w"}, true},
		{map[string]any{rescheduledLabel: ""}, false},
		{map[string]any{ownerLabel: "w"}, false},
		{nil, false},
	} {
		fr := &prefect.FlowRun{StateType: "SCHEDULED", Labels: tc.labels}
		if got := rescheduled(fr); got != tc.want {
			t.Errorf("%v: rescheduled = %v, want %v", tc.labels, got, tc.want)
		}
	}
}

func TestReadoptAt(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		tries    int
		interval time.Duration
		want     time.Duration
	}{
		{1, 10 * time.Second, 20 * time.Second},
		{2, 10 * time.Second, 40 * time.Second},
		{5, 10 * time.Second, 320 * time.Second},
		{6, 10 * time.Second, maxAdoptBackoff},
		{1, time.Hour, maxAdoptBackoff},
		{1000, time.Second, maxAdoptBackoff}, // the shift is capped: no overflow to a wait in the past
	} {
		if got := readoptAt(now, tc.tries, tc.interval).Sub(now); got != tc.want {
			t.Errorf("try %d every %v: again after %v, want %v", tc.tries, tc.interval, got, tc.want)
		}
	}
}

func TestProvisioning(t *testing.T) {
	t.Parallel()
	deadline := time.Date(2026, 1, 1, 0, 4, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return deadline.Add(d) }
	for _, tc := range []struct {
		name string
		o    provObservation
		want provVerdict
	}{
		{"nothing known yet", provObservation{}, provWait},
		{"group creating", provObservation{StateType: prefect.StatePending, ListKnown: true, InList: true, GroupState: "Creating"}, provWait},
		{"group started", provObservation{StateType: prefect.StatePending, ListKnown: true, InList: true, GroupState: "Succeeded"}, provDone},
		{"engine reports Running first", provObservation{StateType: prefect.StateRunning, ListKnown: true, InList: true, GroupState: "Creating"}, provDone},
		{"run cancelled meanwhile", provObservation{StateType: prefect.StateCancelling}, provDone},
		{"group failed", provObservation{StateType: prefect.StatePending, ListKnown: true, InList: true, GroupState: "Failed"}, provReadGroup},
		{"failure beats the timeout", provObservation{ListKnown: true, InList: true, GroupState: "Failed", StartBy: at(0), ListedAt: at(time.Second), Now: at(time.Second)}, provReadGroup},
		{"not listed yet, deployment running", provObservation{ListKnown: true, DeploymentsKnown: true, DeploymentListed: true, DeploymentState: "Running"}, provWait},
		{"deployment failed before the group", provObservation{ListKnown: true, DeploymentsKnown: true, DeploymentListed: true, DeploymentState: "Failed"}, provDeployFailed},
		{"deployment canceled", provObservation{ListKnown: true, DeploymentsKnown: true, DeploymentListed: true, DeploymentState: "Canceled"}, provDeployFailed},
		{"deployed, group gone", provObservation{ListKnown: true, DeploymentsKnown: true, DeploymentListed: true, DeploymentState: "Succeeded"}, provReadGroup},
		{"deployed, group list failed", provObservation{DeploymentsKnown: true, DeploymentListed: true, DeploymentState: "Succeeded"}, provWait},
		{"no start timeout", provObservation{ListKnown: true, InList: true, GroupState: "Creating", ListedAt: at(time.Hour), Now: at(time.Hour)}, provWait},
		{"before the deadline", provObservation{ListKnown: true, InList: true, GroupState: "Creating", StartBy: at(0), ListedAt: at(-time.Second), Now: at(-time.Second)}, provWait},
		{"timed out", provObservation{ListKnown: true, InList: true, GroupState: "Creating", StartBy: at(0), ListedAt: at(time.Second), Now: at(time.Second)}, provTimedOut},
		{"timed out, not even listed", provObservation{ListKnown: true, StartBy: at(0), ListedAt: at(time.Second), Now: at(time.Second)}, provTimedOut},
		{"started in a list past the deadline", provObservation{ListKnown: true, InList: true, GroupState: "Succeeded", StartBy: at(0), ListedAt: at(time.Second), Now: at(time.Second)}, provDone},
		// The worker was late to look: the deadline passed, but no list
		// asked for since has answered (it failed, or a slow Prefect
		// read held the round up). Not a start that timed out.
		{"past the deadline, list failed", provObservation{StartBy: at(0), Now: at(time.Minute)}, provWait},
		{"past the deadline, list asked before it", provObservation{ListKnown: true, InList: true, GroupState: "Creating", StartBy: at(0), ListedAt: at(-time.Second), Now: at(time.Minute)}, provWait},
		{"ARM silent too long", provObservation{StartBy: at(0), Now: at(armSilentGrace + time.Second)}, provTimedOut},
	} {
		if got := provisioning(tc.o); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestCheckSchedule(t *testing.T) {
	t.Parallel()
	s := checkSchedule{First: 90 * time.Second, MaxGap: 5 * time.Minute}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	for _, tc := range []struct {
		name string
		last time.Time
		want time.Time
	}{
		{"never read: after First", time.Time{}, at(90 * time.Second)},
		{"read before First (news): still First", at(10 * time.Second), at(90 * time.Second)},
		{"read at First: a gap of its age", at(90 * time.Second), at(180 * time.Second)},
		{"the gap grows with the age", at(200 * time.Second), at(400 * time.Second)},
		{"the gap is capped", at(time.Hour), at(time.Hour + 5*time.Minute)},
	} {
		if got := s.next(start, tc.last); !got.Equal(tc.want) {
			t.Errorf("%s: next read at %s, want %s", tc.name, got.Sub(start), tc.want.Sub(start))
		}
	}
	// The reads of a run of age a: First, 2 First, 4 First, ... then every
	// MaxGap; a death at any time is seen within max(First, its age) and at
	// most MaxGap later.
	var reads []time.Duration
	for last := (time.Time{}); ; {
		last = s.next(start, last)
		if last.Sub(start) > 20*time.Minute {
			break
		}
		reads = append(reads, last.Sub(start))
	}
	want := []time.Duration{90 * time.Second, 3 * time.Minute, 6 * time.Minute, 11 * time.Minute, 16 * time.Minute}
	if !slices.Equal(reads, want) {
		t.Errorf("reads at %v, want %v", reads, want)
	}
}

func TestEngineReported(t *testing.T) {
	t.Parallel()
	for st, want := range map[string]bool{"": false, "SCHEDULED": false, "PENDING": false, "RUNNING": true, "CANCELLING": true, "COMPLETED": true, "CRASHED": true} {
		if got := engineReported(st); got != want {
			t.Errorf("engineReported(%q) = %v, want %v", st, got, want)
		}
	}
}

func TestNextPollPage(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	page := func(n int, last time.Time) []prefect.WorkerFlowRun {
		runs := make([]prefect.WorkerFlowRun, n)
		for i := range runs {
			at := t0
			if i == n-1 {
				at = last
			}
			runs[i].FlowRun.NextScheduledStartTime = &at
		}
		return runs
	}
	later := t0.Add(time.Second)
	for _, tc := range []struct {
		name  string
		runs  []prefect.WorkerFlowRun
		after time.Time
		next  time.Time
		more  bool
	}{
		{"a short page is the last", page(pollPage-1, later), time.Time{}, time.Time{}, false},
		{"a full page: next from its last run's time", page(pollPage, later), time.Time{}, later, true},
		{"a full page that did not move past the bound ends the poll", page(pollPage, t0), t0, time.Time{}, false},
		{"a full page moving on", page(pollPage, later), t0, later, true},
	} {
		next, more := nextPollPage(tc.runs, tc.after)
		if more != tc.more || !next.Equal(tc.next) {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, next, more, tc.next, tc.more)
		}
	}
}

// A poll is woken by its own pool resumed, by a queue of it resumed that
// it polls, and by a run of it scheduled now; not by other pools', queues'
// or states' events, nor by the runs the scheduler makes ahead of time,
// retries due later or runs marked Late.
func TestPollWake(t *testing.T) {
	t.Parallel()
	pool := func(id string) map[string]string {
		return map[string]string{"prefect.resource.id": "prefect.work-pool." + id, "prefect.resource.role": "work-pool", "prefect.resource.name": "pool-" + id}
	}
	queue := func(name string) map[string]string {
		return map[string]string{"prefect.resource.id": "prefect.work-queue.q-" + name, "prefect.resource.role": "work-queue", "prefect.resource.name": name}
	}
	tag := func(name string) map[string]string {
		return map[string]string{"prefect.resource.id": "prefect.tag." + name, "prefect.resource.role": "tag"}
	}
	runEvent := func(name, typ string, related ...map[string]string) prefect.Event {
		return prefect.Event{Event: "prefect.flow-run." + name, Resource: map[string]string{
			"prefect.resource.id": "prefect.flow-run.r1", "prefect.state-name": name, "prefect.state-type": typ,
		}, Related: related}
	}
	poolEvent := func(status, id string) prefect.Event {
		return prefect.Event{Event: "prefect.work-pool." + status, Resource: map[string]string{"prefect.resource.id": "prefect.work-pool." + id}}
	}
	queueEvent := func(status, name, poolID string) prefect.Event {
		return prefect.Event{Event: "prefect.work-queue." + status, Resource: map[string]string{"prefect.resource.id": "prefect.work-queue.q-" + name, "prefect.resource.name": name},
			Related: []map[string]string{pool(poolID)}}
	}
	for _, tc := range []struct {
		name   string
		ev     prefect.Event
		poolID string
		queues []string
		want   bool
	}{
		{"our pool resumed", poolEvent("ready", "p"), "p", nil, true},
		{"our pool resumed without a worker online", poolEvent("not-ready", "p"), "p", nil, true},
		{"our pool paused", poolEvent("paused", "p"), "p", nil, false},
		{"another pool resumed", poolEvent("ready", "other"), "p", nil, false},
		{"the pool is not known yet", poolEvent("ready", "p"), "", nil, false},
		{"a queue of ours resumed", queueEvent("ready", "default", "p"), "p", nil, true},
		{"a queue we poll resumed", queueEvent("ready", "fast", "p"), "p", []string{"fast"}, true},
		{"a queue we do not poll resumed", queueEvent("ready", "slow", "p"), "p", []string{"fast"}, false},
		{"a queue of another pool resumed", queueEvent("ready", "default", "other"), "p", nil, false},
		{"a queue paused", queueEvent("paused", "default", "p"), "p", nil, false},
		{"a run of ours scheduled", runEvent("Scheduled", "SCHEDULED", pool("p"), queue("default")), "p", nil, true},
		{"a run of ours with a tag", runEvent("Scheduled", "SCHEDULED", pool("p"), tag("etl")), "p", nil, true},
		{"a run of ours marked late", runEvent("Late", "SCHEDULED", pool("p")), "p", nil, false},
		{"a run of ours to retry later", runEvent("AwaitingRetry", "SCHEDULED", pool("p")), "p", nil, false},
		{"a run in a queue we poll", runEvent("Scheduled", "SCHEDULED", pool("p"), queue("fast")), "p", []string{"fast"}, true},
		{"a run in a queue we do not poll", runEvent("Scheduled", "SCHEDULED", pool("p"), queue("slow")), "p", []string{"fast"}, false},
		{"a run of another pool", runEvent("Scheduled", "SCHEDULED", pool("other")), "p", nil, false},
		{"a run of no pool", runEvent("Scheduled", "SCHEDULED"), "p", nil, false},
		{"a run the scheduler made ahead", runEvent("Scheduled", "SCHEDULED", pool("p"), tag("auto-scheduled")), "p", nil, false},
		{"a run of ours running", runEvent("Running", "RUNNING", pool("p")), "p", nil, false},
		{"a run of ours claimed", runEvent("Pending", "PENDING", pool("p")), "p", nil, false},
	} {
		if got := pollWake(tc.ev, tc.poolID, tc.queues); got != tc.want {
			t.Errorf("%s: pollWake = %v, want %v", tc.name, got, tc.want)
		}
	}
}
