package worker

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aciworker/aciworker/prefect"
)

// Adoption reads the run's deployment and flow past a passing overload
// (503), as submission does, instead of giving the run up for the round.
func TestAdoptRetriesTransientPrefectErrors(t *testing.T) {
	t.Parallel()
	var depCalls, flowCalls atomic.Int64
	pf, _ := fakePrefect(t, func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/deployments/d1"):
			if depCalls.Add(1) == 1 {
				http.Error(rw, `{"detail":"database is locked"}`, http.StatusServiceUnavailable)
				return
			}
			io.WriteString(rw, `{"id":"d1","name":"d","flow_id":"f1"}`)
		case strings.HasSuffix(r.URL.Path, "/flows/f1"):
			flowCalls.Add(1)
			io.WriteString(rw, `{"id":"f1","name":"f"}`)
		default:
			http.NotFound(rw, r)
		}
	})
	w, err := New(Config{Pool: "p", Prefect: pf})
	if err != nil {
		t.Fatal(err)
	}
	r := &run{id: "r1", fr: prefect.FlowRun{ID: "r1", DeploymentID: "d1", FlowID: "f1"}, adopted: true}
	w.takeInflight(r.id, r)
	w.runs.Add(1)
	w.adopt(context.Background(), r, "g")
	if depCalls.Load() != 2 {
		t.Errorf("deployment read %d times, want 2 (a 503, then the answer)", depCalls.Load())
	}
	if flowCalls.Load() != 1 {
		t.Errorf("flow read %d times, want 1: adoption gave up after the deployment's 503", flowCalls.Load())
	}
}
