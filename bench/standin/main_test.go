package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

type fakeServer struct {
	mu      sync.Mutex
	states  []string
	fail500 int    // answer 500 to this many requests first
	answer  string // orchestration status to return
	auth    string
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/api/flow_runs/run-1/set_state" {
		http.NotFound(w, r)
		return
	}
	f.auth = r.Header.Get("Authorization")
	if f.fail500 > 0 {
		f.fail500--
		http.Error(w, "database is locked", http.StatusInternalServerError)
		return
	}
	var body struct {
		State struct{ Type, Name string } `json:"state"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	f.states = append(f.states, body.State.Type+"/"+body.State.Name)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": f.answer})
}

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fail500  int
		answer   string
		env      map[string]string
		wantErr  string
		want     []string
		wantAuth string
	}{
		{name: "ok", answer: "ACCEPT", want: []string{"RUNNING/Running", "COMPLETED/Completed"}},
		{name: "retries 500", fail500: 2, answer: "ACCEPT", want: []string{"RUNNING/Running", "COMPLETED/Completed"}},
		{name: "reject", answer: "REJECT", wantErr: "server answered REJECT", want: []string{"RUNNING/Running"}},
		{name: "auth string", answer: "ACCEPT", env: map[string]string{"PREFECT_API_AUTH_STRING": "u:p"},
			want: []string{"RUNNING/Running", "COMPLETED/Completed"}, wantAuth: "Basic dTpw"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeServer{fail500: tc.fail500, answer: tc.answer}
			srv := httptest.NewServer(f)
			defer srv.Close()
			env := map[string]string{"PREFECT__FLOW_RUN_ID": "run-1", "PREFECT_API_URL": srv.URL + "/api/"}
			for k, v := range tc.env {
				env[k] = v
			}
			err := run(context.Background(), func(k string) string { return env[k] }, 0)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if !slices.Equal(f.states, tc.want) {
				t.Errorf("states %v, want %v", f.states, tc.want)
			}
			if f.auth != tc.wantAuth {
				t.Errorf("Authorization %q, want %q", f.auth, tc.wantAuth)
			}
		})
	}
}

func TestRunNeedsEnv(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), func(string) string { return "" }, 0)
	if err == nil || !strings.Contains(err.Error(), "PREFECT__FLOW_RUN_ID") {
		t.Errorf("err = %v", err)
	}
}
