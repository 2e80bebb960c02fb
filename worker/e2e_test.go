package worker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
)

const helloFlows = `from prefect import flow

@flow(log_prints=True)
def hello():
    print("hello from the flow")
    return 42

@flow
def boom():
    raise ValueError("boom on purpose")
`

// The real engine end to end: a flow that returns is Completed, one that
// raises is Failed (not overridden to Crashed), the pid is the group, and
// nothing is left in Azure.
func TestRealEngineCompletedAndFailed(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dir := writeFlows(t, helloFlows)
	jv := b.jobVars(b.engineCommand())
	hello := b.deploy("hello", dir, "flows.py:hello", jv)
	boom := b.deploy("boom", dir, "flows.py:boom", jv)
	ok := b.runDeployment(hello, nil)
	bad := b.runDeployment(boom, nil)
	b.startWorker()

	fr := b.waitFinal(ok, 3*time.Minute)
	if fr.StateType != prefect.StateCompleted {
		t.Errorf("hello: state %s (%s), want COMPLETED", fr.StateType, stateMessage(fr))
	}
	if want := ok + ":"; !strings.HasPrefix(fr.InfrastructurePID, want) {
		t.Errorf("infrastructure_pid %q does not start with %q", fr.InfrastructurePID, want)
	}
	fr = b.waitFinal(bad, 3*time.Minute)
	if fr.StateType != prefect.StateFailed {
		t.Errorf("boom: state %s (%s), want FAILED", fr.StateType, stateMessage(fr))
	}
	b.waitClean(time.Minute)
	logs := b.logs(ok)
	for _, want := range []string{"submitting flow run '" + ok + "'", "submitted to infrastructure"} {
		if !strings.Contains(logs, want) {
			t.Errorf("flow run logs lack %q:\n%s", want, logs)
		}
	}
}

// history is a run's state history, a line a state, for a failure's
// message: which write came when, and with which transition id.
func (b *bed) history(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	states, err := b.pf.ReadFlowRunStates(ctx, id)
	if err != nil {
		return "reading the history failed: " + err.Error()
	}
	var out strings.Builder
	for _, st := range states {
		at := "?"
		if st.Timestamp != nil {
			at = st.Timestamp.Format("15:04:05.000")
		}
		fmt.Fprintf(&out, "  %s %s %q (%s) tid %s\n", at, st.Type, st.Name, st.Message, st.StateDetails.TransitionID)
	}
	return out.String()
}

func stateMessage(fr *prefect.FlowRun) string {
	if fr.State == nil {
		return ""
	}
	return fr.State.Message
}
