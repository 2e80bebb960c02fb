package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	r := &run{id: "r1", fr: prefect.FlowRun{ID: "r1", DeploymentID: "d1", FlowID: "f1"}, origin: recovered}
	w.store.take(r, false)
	w.runs.Add(1)
	close(w.beat) // as Run does once its first heartbeat has ended
	w.recover(context.Background(), r, "g")
	if depCalls.Load() != 2 {
		t.Errorf("deployment read %d times, want 2 (a 503, then the answer)", depCalls.Load())
	}
	if flowCalls.Load() != 1 {
		t.Errorf("flow read %d times, want 1: adoption gave up after the deployment's 503", flowCalls.Load())
	}
}

// A crash reported for a run that is Cancelling (its group vanished while
// it was being cancelled) is rejected by Prefect; the run then ends
// Cancelled, and the rejection is logged with the server's reason.
func TestCrashedWhileCancellingEndsCancelled(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var proposals []string
	pf, _ := fakePrefect(t, func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		if !strings.HasSuffix(r.URL.Path, "/flow_runs/r1/set_state") {
			http.NotFound(rw, r)
			return
		}
		var body struct {
			State struct{ Type string } `json:"state"`
			Force bool                  `json:"force"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		proposals = append(proposals, fmt.Sprintf("%s force=%v", body.State.Type, body.Force))
		mu.Unlock()
		if body.State.Type == prefect.StateCrashed {
			io.WriteString(rw, `{"status":"REJECT","details":{"type":"reject_details","reason":"Cannot transition flows that are cancelling to a state other than Cancelled."},"state":{"id":"s1","type":"CANCELLING","name":"Cancelling"}}`)
			return
		}
		io.WriteString(rw, `{"status":"ACCEPT","details":{"type":"accept_details"},"state":{"id":"s2","type":"CANCELLED","name":"Cancelled"}}`)
	})
	var log syncLog
	w, err := New(Config{Pool: "p", Prefect: pf, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if w.proposeCrashed(context.Background(), "r1", "container group g no longer exists") {
		t.Error("proposeCrashed reported a rejected crash as reported")
	}
	mu.Lock()
	got := strings.Join(proposals, ", ")
	mu.Unlock()
	if got != "CRASHED force=false, CANCELLED force=true" {
		t.Errorf("proposals %q, want a crash then a forced Cancelled", got)
	}
	if !strings.Contains(log.String(), "Cannot transition flows that are cancelling") {
		t.Errorf("the rejection's reason is not logged:\n%s", log.String())
	}
}

// syncLog is a log sink safe for the worker's goroutines.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// An adoption that ended with its run still in the state it was adopted in
// is not repeated at once, and waits longer each time; a run that moved on
// is adopted again at once, and runs no longer in flight are forgotten.
func TestAdoptionWithoutProgressBacksOff(t *testing.T) {
	t.Parallel()
	pf, _ := fakePrefect(t, http.NotFound)
	w, err := New(Config{Pool: "p", Prefect: pf, AdoptInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(10000, 0)
	fr := prefect.FlowRun{ID: "r1", StateType: prefect.StateCancelling, State: &prefect.State{ID: "s1", Type: prefect.StateCancelling}}
	if !w.adoptionDue(&fr, now) {
		t.Fatal("a run never adopted is not due")
	}
	w.adoptionEnded(&run{id: "r1", fr: fr}, now)
	if w.adoptionDue(&fr, now.Add(time.Second)) {
		t.Error("adopted again one round after an adoption that did not move it")
	}
	if !w.adoptionDue(&fr, now.Add(3*time.Second)) {
		t.Error("not due after its wait")
	}
	w.adoptionEnded(&run{id: "r1", fr: fr}, now)
	if w.adoptionDue(&fr, now.Add(3*time.Second)) {
		t.Error("the second wait is not longer than the first")
	}
	moved := fr
	moved.State = &prefect.State{ID: "s2", Type: prefect.StateCancelling}
	if !w.adoptionDue(&moved, now) {
		t.Error("a run that moved on waits")
	}
	w.adoptionEnded(&run{id: "r1", fr: fr}, now)
	w.store.noteBadPID("r2")
	w.store.forgetUnlisted(map[string]bool{})
	if len(w.store.unmoved) != 0 || len(w.store.badPIDs) != 0 {
		t.Errorf("runs no longer in flight are remembered: %v %v", w.store.unmoved, w.store.badPIDs)
	}
}

// Regression (TestTwoWorkersImpatientOrphanRecovery, once): a run this
// worker ended while the adoption listing was being read (its claim found
// the run already over and put the final state back) was adopted from the
// listing, which still showed this worker's claim, and reported Crashed
// over its final state. A run dropped since the listing began is skipped.
func TestNoAdoptionOfARunEndedDuringTheListing(t *testing.T) {
	t.Parallel()
	var w *Worker
	ended := &run{id: "r1"}
	pf, _ := fakePrefect(t, func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/flow_runs/filter"):
			// The run's goroutine ends while Prefect answers.
			w.store.take(ended, true)
			w.store.drop(ended, w.now())
			io.WriteString(rw, `[{"id":"r1","name":"x","flow_id":"f1","state_type":"PENDING","infrastructure_pid":"r1:g1",
				"state":{"id":"s1","type":"PENDING","name":"Pending","message":"Claimed by worker 'me'","timestamp":"2026-01-01T00:00:00Z"}}]`)
		case strings.HasSuffix(r.URL.Path, "/workers/filter"):
			io.WriteString(rw, `[]`)
		default:
			http.NotFound(rw, r)
		}
	})
	var err error
	if w, err = New(Config{Pool: "p", Name: "me", Prefect: pf}); err != nil {
		t.Fatal(err)
	}
	close(w.synced)
	close(w.beat)
	if err := w.adoptOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	adopted := w.store.owns("r1")
	w.runs.Wait()
	if adopted {
		t.Error("a run that ended during the listing was adopted from it")
	}
}

// A run found Pending under a claim in this worker's name that replaced
// its final state gets that state back: its pid names the group of the run
// that ended, and following it would report the run Crashed over its end
// (seen under -race -count=20 in TestTwoWorkersImpatientOrphanRecovery,
// where the server listed the claim before the states it replaced). A run
// that moved on since the listing is left for the next round, and one that
// never ran is not read again.
func TestAdoptedClaimThatOvertookTheEnd(t *testing.T) {
	t.Parallel()
	const (
		claimState = `{"id":"s9","type":"PENDING","name":"Pending","message":"Claimed by worker 'me'","timestamp":"2026-01-01T00:00:02Z","state_details":{"transition_id":"t9"}}`
		completed  = `{"id":"s4","type":"COMPLETED","name":"Completed","message":"done","timestamp":"2026-01-01T00:00:04Z"}`
		scheduled  = `{"id":"s1","type":"SCHEDULED","name":"Scheduled","timestamp":"2026-01-01T00:00:01Z"}`
		other      = `{"id":"s2","type":"PENDING","name":"Pending","message":"Claimed by worker 'other'","timestamp":"2026-01-01T00:00:02Z"}`
		running    = `{"id":"s3","type":"RUNNING","name":"Running","timestamp":"2026-01-01T00:00:03Z"}`
	)
	for _, tc := range []struct {
		name      string
		startTime string // the listed run's start_time ("" for none)
		history   string
		record    string // the run's current state when read again
		wantReads bool
		wantState string // the state written back; "" for none
	}{
		{"claim over the end", `"2026-01-01T00:00:03Z"`, "[" + scheduled + "," + other + "," + running + "," + completed + "," + claimState + "]", claimState, true, "COMPLETED"},
		{"claim listed before the end it replaced", `"2026-01-01T00:00:03Z"`, "[" + scheduled + "," + claimState + "," + other + "," + running + "," + completed + "]", claimState, true, "COMPLETED"},
		{"moved on since the listing", `"2026-01-01T00:00:03Z"`, "[" + scheduled + "," + claimState + "," + other + "," + running + "," + completed + "]", completed, true, ""},
		{"never ran", "", "[" + scheduled + "," + other + "," + running + "," + completed + "," + claimState + "]", claimState, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var reads atomic.Int64
			var writes stateWrites
			start := ""
			if tc.startTime != "" {
				start = `"start_time":` + tc.startTime + `,`
			}
			run := func(state string) string {
				return `{"id":"r1","name":"x","flow_id":"f1","state_type":"` + map[bool]string{true: "PENDING", false: "COMPLETED"}[state == claimState] +
					`","infrastructure_pid":"r1:g1",` + start + `"state":` + state + `}`
			}
			pf, _ := fakePrefect(t, func(rw http.ResponseWriter, r *http.Request) {
				rw.Header().Set("Content-Type", "application/json")
				if writes.serve(rw, r, completed) {
					return
				}
				switch {
				case strings.HasSuffix(r.URL.Path, "/flow_runs/filter"):
					io.WriteString(rw, "["+run(claimState)+"]")
				case strings.HasSuffix(r.URL.Path, "/workers/filter"):
					io.WriteString(rw, `[]`)
				case strings.HasSuffix(r.URL.Path, "/flow_run_states/"):
					reads.Add(1)
					io.WriteString(rw, tc.history)
				case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/flow_runs/r1"):
					reads.Add(1)
					io.WriteString(rw, run(tc.record))
				default:
					http.NotFound(rw, r)
				}
			})
			w, err := New(Config{Pool: "p", Name: "me", Prefect: pf})
			if err != nil {
				t.Fatal(err)
			}
			close(w.synced)
			close(w.beat)
			if err := w.adoptOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			w.runs.Wait()
			if got := reads.Load() > 0; got != tc.wantReads {
				t.Errorf("read again: %v, want %v", got, tc.wantReads)
			}
			written := writes.all()
			if tc.wantState == "" {
				if len(written) != 0 {
					t.Errorf("states written: %v", written)
				}
				return
			}
			if len(written) != 1 {
				t.Fatalf("states written: %v, want one", written)
			}
			st, _ := written[0]["state"].(map[string]any)
			if st["type"] != tc.wantState || st["message"] != "done" || written[0]["force"] != true {
				t.Errorf("written %v, want %s restored as it was, forced", written[0], tc.wantState)
			}
		})
	}
}
