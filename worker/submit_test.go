package worker

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The check before deploying takes the current state from the run's
// record, not from the last state of the history: the server lists the
// history by the time it stamped each state, and a claim that waited for
// the database is stamped before the states committed ahead of it. Taking
// the history's last state for the current one, a worker aborted a claim
// that had replaced a Completed run and left it Pending (seen under -race
// -count=20 in TestTwoWorkersImpatientOrphanRecovery).
func TestStillClaimed(t *testing.T) {
	t.Parallel()
	const (
		claim     = `{"id":"s9","type":"PENDING","name":"Pending","message":"Claimed by worker 'me'","timestamp":"2026-01-01T00:00:02Z","state_details":{"transition_id":"t9"}}`
		scheduled = `{"id":"s1","type":"SCHEDULED","name":"Scheduled","timestamp":"2026-01-01T00:00:01Z"}`
		other     = `{"id":"s2","type":"PENDING","name":"Pending","message":"Claimed by worker 'other'","timestamp":"2026-01-01T00:00:02Z"}`
		running   = `{"id":"s3","type":"RUNNING","name":"Running","timestamp":"2026-01-01T00:00:03Z"}`
		completed = `{"id":"s4","type":"COMPLETED","name":"Completed","message":"done","timestamp":"2026-01-01T00:00:04Z"}`
		rerun     = `{"id":"s5","type":"SCHEDULED","name":"Scheduled","timestamp":"2026-01-01T00:00:05Z"}`
		started   = `"start_time":"2026-01-01T00:00:03Z",`
	)
	list := func(states ...string) string { return "[" + strings.Join(states, ",") + "]" }
	for _, tc := range []struct {
		name         string
		listed       string // the batched read's answer
		alone        string // the run read alone; "" answers 404
		history      string
		want         bool
		wantHistory  bool
		wantRestored bool
	}{
		{"claim of a run that never ran", `[{"id":"r1","state":` + claim + `}]`, "", "", true, false, false},
		{"another state is current", `[{"id":"r1",` + started + `"state":` + completed + `}]`, "", "", false, false, false},
		{"claim listed after the end it replaced", `[{"id":"r1",` + started + `"state":` + claim + `}]`, "", list(scheduled, other, running, completed, claim), false, true, true},
		{"claim listed before the end it replaced", `[{"id":"r1",` + started + `"state":` + claim + `}]`, "", list(scheduled, claim, other, running, completed), false, true, true},
		{"claim of a user's rerun", `[{"id":"r1",` + started + `"state":` + claim + `}]`, "", list(scheduled, other, running, completed, rerun, claim), true, true, false},
		{"not listed, read alone", `[]`, `{"id":"r1","state":` + claim + `}`, "", true, false, false},
		{"not listed, gone", `[]`, "", "", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var historyReads atomic.Int64
			var writes stateWrites
			pf, _ := fakePrefect(t, func(rw http.ResponseWriter, r *http.Request) {
				rw.Header().Set("Content-Type", "application/json")
				if writes.serve(rw, r, completed) {
					return
				}
				switch {
				case strings.HasSuffix(r.URL.Path, "/flow_runs/filter"):
					io.WriteString(rw, tc.listed)
				case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/flow_runs/r1") && tc.alone != "":
					io.WriteString(rw, tc.alone)
				case strings.HasSuffix(r.URL.Path, "/flow_run_states/"):
					historyReads.Add(1)
					io.WriteString(rw, tc.history)
				default:
					http.NotFound(rw, r)
				}
			})
			w, err := New(Config{Pool: "p", Name: "me", Prefect: pf})
			if err != nil {
				t.Fatal(err)
			}
			if got := w.stillClaimed(context.Background(), &run{id: "r1", claim: "t9"}); got != tc.want {
				t.Errorf("stillClaimed = %v, want %v", got, tc.want)
			}
			if got := historyReads.Load() > 0; got != tc.wantHistory {
				t.Errorf("history read: %v, want %v", got, tc.wantHistory)
			}
			written := writes.all()
			restored := len(written) == 1
			if restored {
				st, _ := written[0]["state"].(map[string]any)
				restored = st["type"] == "COMPLETED" && written[0]["force"] == true
			}
			if restored != tc.wantRestored || len(written) > 1 {
				t.Errorf("states written: %v; want the end restored: %v", written, tc.wantRestored)
			}
		})
	}
}

// stateWrites is a fake Prefect server's record of the states proposed to
// it, each accepted.
type stateWrites struct {
	mu     sync.Mutex
	bodies []map[string]any
}

// serve answers a state proposal with ACCEPT and the state answer, or a
// log write, and says whether r was either.
func (s *stateWrites) serve(rw http.ResponseWriter, r *http.Request, answer string) bool {
	switch {
	case strings.HasSuffix(r.URL.Path, "/set_state"):
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		s.mu.Unlock()
		io.WriteString(rw, `{"status":"ACCEPT","state":`+answer+`}`)
		return true
	case strings.HasSuffix(r.URL.Path, "/logs/"):
		rw.WriteHeader(http.StatusCreated)
		io.WriteString(rw, `null`)
		return true
	}
	return false
}

// all is what was proposed so far.
func (s *stateWrites) all() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bodies)
}
