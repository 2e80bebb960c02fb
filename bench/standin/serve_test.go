package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// prefectFake answers set_state with the scripted statuses in order (the
// last repeats; 500 is a server error) and GET with the run's state.
type prefectFake struct {
	mu       sync.Mutex
	answers  []string
	current  string // the run's state type for GET
	proposed []string
	auth     string
}

func (f *prefectFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/flow_runs/run-1":
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "run-1", "state": map[string]any{"type": f.current}})
	case r.Method == http.MethodPost && r.URL.Path == "/api/flow_runs/run-1/set_state":
		f.auth = r.Header.Get("Authorization")
		var body struct {
			State struct{ Type, Name string } `json:"state"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.proposed = append(f.proposed, body.State.Type+"/"+body.State.Name)
		a := f.answers[min(len(f.proposed), len(f.answers))-1]
		if a == "500" {
			http.Error(w, "database is locked", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status": a})
	default:
		http.NotFound(w, r)
	}
}

// check compares what the fake was sent with what a test wants.
func (f *prefectFake) check(t *testing.T, proposed []string, auth string) {
	t.Helper()
	if !slices.Equal(f.proposed, proposed) {
		t.Errorf("proposed %v, want %v", f.proposed, proposed)
	}
	if f.auth != auth {
		t.Errorf("Authorization %q, want %q", f.auth, auth)
	}
}

// TestDaemon drives the daemon's handler as the emulator's call step does.
func TestDaemon(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		path       string
		env        map[string]string // merged over a valid environment; "" deletes
		answers    []string
		current    string
		wantStatus int
		wantBody   string
		proposed   []string
		wantAuth   string
	}{
		{name: "running", path: "/running", answers: []string{"ACCEPT"}, wantStatus: 200,
			wantBody: "stand-in flow run run-1 running\n", proposed: []string{"RUNNING/Running"}},
		{name: "completed with key", path: "/completed", answers: []string{"ACCEPT"}, env: map[string]string{"PREFECT_API_KEY": "k"},
			wantStatus: 200, wantBody: "stand-in flow run run-1 completed\n", proposed: []string{"COMPLETED/Completed"}, wantAuth: "Bearer k"},
		{name: "retries 500", path: "/running", answers: []string{"500", "500", "ACCEPT"}, wantStatus: 200,
			wantBody: "stand-in flow run run-1 running\n", proposed: slices.Repeat([]string{"RUNNING/Running"}, 3)},
		{name: "rejected but already there", path: "/completed", answers: []string{"REJECT"}, current: "COMPLETED",
			wantStatus: 200, wantBody: "stand-in flow run run-1 completed\n", proposed: []string{"COMPLETED/Completed"}},
		{name: "rejected", path: "/running", answers: []string{"ABORT"}, current: "CANCELLED",
			wantStatus: 409, wantBody: "server answered ABORT", proposed: []string{"RUNNING/Running"}},
		{name: "server keeps failing", path: "/running", answers: []string{"500"}, wantStatus: 502,
			wantBody: "500 Internal Server Error", proposed: slices.Repeat([]string{"RUNNING/Running"}, 8)},
		{name: "no run id", path: "/running", env: map[string]string{"PREFECT__FLOW_RUN_ID": ""}, wantStatus: 400,
			wantBody: "env.PREFECT__FLOW_RUN_ID is missing"},
		{name: "no api url", path: "/running", env: map[string]string{"PREFECT_API_URL": ""}, wantStatus: 400,
			wantBody: "env.PREFECT_API_URL is missing"},
		{name: "api not allowed", path: "/running", env: map[string]string{"PREFECT_API_URL": "http://elsewhere/api"}, wantStatus: 403,
			wantBody: `"http://elsewhere/api" is not one this stand-in was started for`},
		{name: "unknown path", path: "/failed", wantStatus: 404, wantBody: "want /running or /completed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &prefectFake{answers: tc.answers, current: tc.current}
			api := httptest.NewServer(f)
			defer api.Close()
			d := newDaemon(t.Context(), []string{api.URL + "/api/"}, 2, slog.New(slog.DiscardHandler))
			d.backoff = time.Millisecond
			env := map[string]string{"PREFECT__FLOW_RUN_ID": "run-1", "PREFECT_API_URL": api.URL + "/api"}
			for k, v := range tc.env {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			body, _ := json.Marshal(callBody{Group: "rg/g", Container: "c", Env: env})
			rec := httptest.NewRecorder()
			d.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, tc.path, bytes.NewReader(body)))
			if rec.Code != tc.wantStatus || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Fatalf("answer %d %q, want %d containing %q", rec.Code, rec.Body.String(), tc.wantStatus, tc.wantBody)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			f.check(t, tc.proposed, tc.wantAuth)
		})
	}
}

// TestCutAnswerRetried: an answer cut short (the connection closed before
// the body's end) is retried, not taken as a refusal.
func TestCutAnswerRetried(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := 0
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			w.Header().Set("Content-Length", "100")
			_, _ = io.WriteString(w, `{"status":`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"ACCEPT"}`)
	}))
	defer api.Close()
	c := &client{api: api.URL + "/api", http: api.Client(), backoff: time.Millisecond}
	if err := c.setState(context.Background(), "run-1", "RUNNING"); err != nil {
		t.Fatalf("setState: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("%d calls, want 2", calls)
	}
}

// TestDaemonBounded: a call whose state is not set within the daemon's
// budget (here: no slot for its Prefect request) is answered 503, to call
// again, rather than held forever.
func TestDaemonBounded(t *testing.T) {
	t.Parallel()
	d := newDaemon(t.Context(), []string{"http://127.0.0.1:9/api"}, 1, slog.New(slog.DiscardHandler))
	d.budget = 10 * time.Millisecond
	d.slots <- struct{}{} // the only slot is taken
	body, _ := json.Marshal(callBody{Env: map[string]string{"PREFECT__FLOW_RUN_ID": "run-1", "PREFECT_API_URL": "http://127.0.0.1:9/api"}})
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/running", bytes.NewReader(body)))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("answer %d %q, want 503", rec.Code, rec.Body.String())
	}
}

// TestServe: the daemon prints its URL once listening and stops with ctx.
func TestServe(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, "127.0.0.1:0", newDaemon(ctx, []string{"http://x/api"}, 1, slog.New(slog.DiscardHandler)), pw)
	}()
	line := make([]byte, 64)
	n, err := pr.Read(line)
	if err != nil || !strings.HasPrefix(string(line[:n]), "STANDIN_URL=http://127.0.0.1:") {
		t.Fatalf("first output %q (%v)", line[:n], err)
	}
	url := strings.TrimSpace(strings.TrimPrefix(string(line[:n]), "STANDIN_URL="))
	resp, err := http.Post(url+"/running", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400 for an empty environment", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestDaemonOneProposalPerState: a call that timed out and comes again
// while its proposal is still with the server waits for that proposal
// instead of sending another (a slow server carries out every request it
// was sent, given up on or not), and once the state is set a further
// call is answered without asking the server again.
func TestDaemonOneProposalPerState(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var mu sync.Mutex
	proposals := 0
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proposals++
		mu.Unlock()
		<-release // a server slower than the daemon's budget
		_, _ = io.WriteString(w, `{"status":"ACCEPT"}`)
	}))
	defer api.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	d := newDaemon(t.Context(), []string{api.URL + "/api"}, 2, slog.New(slog.DiscardHandler))
	d.budget = 50 * time.Millisecond
	body, _ := json.Marshal(callBody{Env: map[string]string{"PREFECT__FLOW_RUN_ID": "run-1", "PREFECT_API_URL": api.URL + "/api"}})
	call := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/completed", bytes.NewReader(body)))
		return rec
	}
	for i := range 3 {
		if rec := call(); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("call %d while the server works: answer %d %q, want 503", i, rec.Code, rec.Body.String())
		}
	}
	close(release)
	d.budget = time.Minute
	for i := range 2 {
		if rec := call(); rec.Code != http.StatusOK {
			t.Fatalf("call %d once the server answered: %d %q, want 200", i, rec.Code, rec.Body.String())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if proposals != 1 {
		t.Errorf("the server got %d proposals, want 1", proposals)
	}
}
