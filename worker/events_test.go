package worker

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aciworker/aciworker/prefect"
)

func TestWorkerResource(t *testing.T) {
	t.Parallel()
	got := workerResource("AzureContainerWorker 4f9c-Ab", Type, "3.8.8", "1.2.3")
	want := map[string]string{
		"prefect.resource.id":   "prefect.worker.azure-container-instance.azurecontainerworker-4f9c-ab",
		"prefect.resource.name": "AzureContainerWorker 4f9c-Ab",
		"prefect.worker-type":   "azure-container-instance",
		"prefect.version":       "3.8.8",
		"aciworker.version":     "1.2.3",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if _, ok := workerResource("w", Type, "", "1")["prefect.version"]; ok {
		t.Error("an unknown server version must be left out, not sent empty")
	}
}

// The related resources of a run's events, in BaseWorker's order: the
// configuration's deployment, flow and flow run, their tags once each and
// sorted, then the work pool; the executed event marks the flow run with
// the infrastructure's identifier and status code.
func TestRunRelated(t *testing.T) {
	t.Parallel()
	fr := &prefect.FlowRun{ID: "fr1", Name: "brave-fox", Tags: []string{"b", "a"}}
	flow := &prefect.Flow{ID: "f1", Name: "hello", Tags: []string{"a"}}
	dep := &prefect.Deployment{ID: "d1", Name: "prod", Tags: []string{"c"}}
	pool := &prefect.WorkPool{ID: "p1", Name: "aci"}
	got := executedRelated(runRelated(fr, flow, dep, pool), "group-1", 3)
	want := []map[string]string{
		{"prefect.resource.id": "prefect.deployment.d1", "prefect.resource.role": "deployment", "prefect.resource.name": "prod"},
		{"prefect.resource.id": "prefect.flow.f1", "prefect.resource.role": "flow", "prefect.resource.name": "hello"},
		{"prefect.resource.id": "prefect.flow-run.fr1", "prefect.resource.role": "flow-run", "prefect.resource.name": "brave-fox",
			"prefect.infrastructure.identifier": "group-1", "prefect.infrastructure.status-code": "3"},
		{"prefect.resource.id": "prefect.tag.a", "prefect.resource.role": "tag"},
		{"prefect.resource.id": "prefect.tag.b", "prefect.resource.role": "tag"},
		{"prefect.resource.id": "prefect.tag.c", "prefect.resource.role": "tag"},
		{"prefect.resource.id": "prefect.work-pool.p1", "prefect.resource.role": "work-pool", "prefect.resource.name": "aci"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	if got := runRelated(fr, nil, nil, nil); len(got) != 3 || got[0]["prefect.resource.role"] != "flow-run" {
		t.Errorf("a run without deployment, flow or pool: %v", got)
	}
}

// Emitting never waits for the server: with the server stuck, the queue
// fills and further events are dropped, counted and logged; a refusing
// server's batch is dropped the same way.
func TestEventSinkNeverBlocks(t *testing.T) {
	t.Parallel()
	var logs syncLog
	log := slog.New(slog.NewTextHandler(&logs, nil))
	release := make(chan struct{})
	var mu sync.Mutex
	var got []prefect.Event
	calls := 0
	send := func(ctx context.Context, evs []prefect.Event) error {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			<-release // the server hangs on the first batch
			return errors.New("503 Service Unavailable")
		}
		mu.Lock()
		got = append(got, evs...)
		mu.Unlock()
		return nil
	}
	s := newEventSink(send, log)
	go s.run()
	s.emit(prefect.Event{Event: "first"})
	// Wait until the first batch is taken, so the queue holds exactly what follows.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := calls
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first batch was never sent")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 0; i < eventQueueSize+5; i++ {
		s.emit(prefect.Event{Event: "more"})
	}
	if d := s.dropped.Load(); d != 5 {
		t.Fatalf("dropped %d with a full queue, want 5", d)
	}
	close(release)
	s.close()
	if d := s.dropped.Load(); d != 6 {
		t.Errorf("dropped %d after the refused batch, want 6", d)
	}
	if len(got) != eventQueueSize {
		t.Errorf("sent %d, want the %d queued", len(got), eventQueueSize)
	}
	if !strings.Contains(logs.String(), "dropped Prefect events") || !strings.Contains(logs.String(), "503") {
		t.Errorf("the drops are not logged:\n%s", logs.String())
	}
	if ref := s.emit(prefect.Event{Event: "late"}); ref.id == "" || s.dropped.Load() != 7 {
		t.Errorf("an event after close: id %q, dropped %d", ref.id, s.dropped.Load())
	}
}

// Events that come within the linger after a batch's first go in that
// batch: a burst of runs costs a few requests, not one per event.
func TestEventSinkBatchesABurst(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sends [][]string
	send := func(ctx context.Context, evs []prefect.Event) error {
		var names []string
		for _, ev := range evs {
			names = append(names, ev.Event)
		}
		mu.Lock()
		sends = append(sends, names)
		mu.Unlock()
		return nil
	}
	s := newEventSink(send, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.linger = time.Hour // closing ends the batch
	go s.run()
	s.emit(prefect.Event{Event: "first"})
	// Once the first is taken off the queue, the next comes while its batch
	// is still open.
	deadline := time.Now().Add(30 * time.Second)
	for len(s.queue) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first event was never taken")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.emit(prefect.Event{Event: "second"})
	s.close()
	mu.Lock()
	defer mu.Unlock()
	if want := [][]string{{"first", "second"}}; !reflect.DeepEqual(sends, want) {
		t.Errorf("sent %v, want %v", sends, want)
	}
}

// An event names the one it follows only when they are less than five
// minutes apart, as Prefect's emit_event decides.
func TestFollowsWindow(t *testing.T) {
	t.Parallel()
	at := time.Unix(100000, 0)
	ref := eventRef{id: "e1", at: at}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "e1"}, {4*time.Minute + 59*time.Second, "e1"}, {-4 * time.Minute, "e1"},
		{5 * time.Minute, ""}, {-5 * time.Minute, ""}, {time.Hour, ""},
	} {
		if got := ref.follows(at.Add(tc.d)); got != tc.want {
			t.Errorf("%v after: follows %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := (eventRef{}).follows(at); got != "" {
		t.Errorf("no predecessor: follows %q", got)
	}
}

// On Prefect Cloud the heartbeat asks for the worker's id until it has one
// and sends the worker's metadata once; elsewhere it sends neither.
func TestHeartbeatOnCloud(t *testing.T) {
	t.Parallel()
	for _, cloud := range []bool{true, false} {
		var mu sync.Mutex
		var bodies []map[string]any
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			var m map[string]any
			json.Unmarshal(b, &m)
			mu.Lock()
			bodies = append(bodies, m)
			mu.Unlock()
			if m["return_id"] == true {
				io.WriteString(w, "6f1c3e2a-8d4b-4a1e-9c7f-2b5d8e9a0c11")
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		defer srv.Close()
		cfg := prefect.Config{APIURL: srv.URL + "/api/accounts/a/workspaces/w", DisableCSRF: true}
		if cloud {
			cfg.CloudAPIURL = srv.URL + "/api"
		}
		pf, err := prefect.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		w, err := New(Config{Pool: "p", Name: "n", Prefect: pf, Version: "9.9.9"})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := w.heartbeat(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		first, second := bodies[0], bodies[1]
		mu.Unlock()
		if !cloud {
			if _, ok := first["return_id"]; ok || first["metadata"] != nil || w.BackendID() != "" {
				t.Errorf("a self-hosted server got %v", first)
			}
			continue
		}
		if first["return_id"] != true || w.BackendID() != "6f1c3e2a-8d4b-4a1e-9c7f-2b5d8e9a0c11" {
			t.Errorf("first heartbeat %v; backend id %q", first, w.BackendID())
		}
		meta, _ := json.Marshal(first["metadata"])
		if string(meta) != `{"integrations":[{"name":"aciworker","version":"9.9.9"}]}` {
			t.Errorf("metadata %s", meta)
		}
		if _, ok := second["return_id"]; ok || second["metadata"] != nil {
			t.Errorf("the second heartbeat repeats what was accepted: %v", second)
		}
	}
}

func TestDefaultImage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		override, server, python, want string
	}{
		{"", "3.8.8", "", "prefecthq/prefect:3.8.8-python" + DefaultPython},
		{"", "3.8.8", "3.11", "prefecthq/prefect:3.8.8-python3.11"},
		{"", "3.9.0rc1", "", "prefecthq/prefect:3.9.0rc1-python" + DefaultPython},
		{"", "3.8.8+12.gabc1234", "", "prefecthq/prefect:3-latest"},
		{"", "", "", "prefecthq/prefect:3-latest"},
		{"registry.example/base:7", "3.8.8", "3.11", "registry.example/base:7"},
	} {
		if got, why := defaultImage(tc.override, tc.server, tc.python); got != tc.want || why == "" {
			t.Errorf("defaultImage(%q, %q, %q) = %q (%q), want %q", tc.override, tc.server, tc.python, got, why, tc.want)
		}
	}
}
