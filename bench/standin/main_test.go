package main

import (
	"context"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	t.Parallel()
	both := []string{"RUNNING/Running", "COMPLETED/Completed"}
	tests := []struct {
		name     string
		answers  []string // prefectFake's answers to set_state, in order
		current  string
		env      map[string]string
		wantErr  string
		want     []string
		wantAuth string
	}{
		{name: "ok", answers: []string{"ACCEPT"}, want: both},
		{name: "retries 500", answers: []string{"500", "500", "ACCEPT"},
			want: []string{"RUNNING/Running", "RUNNING/Running", "RUNNING/Running", "COMPLETED/Completed"}},
		{name: "reject", answers: []string{"REJECT"}, current: "SCHEDULED", wantErr: "server answered REJECT", want: both[:1]},
		{name: "auth string", answers: []string{"ACCEPT"}, env: map[string]string{"PREFECT_API_AUTH_STRING": "u:p"},
			want: both, wantAuth: "Basic dTpw"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &prefectFake{answers: tc.answers, current: tc.current}
			srv := httptest.NewServer(f)
			defer srv.Close()
			env := map[string]string{"PREFECT__FLOW_RUN_ID": "run-1", "PREFECT_API_URL": srv.URL + "/api/"}
			maps.Copy(env, tc.env)
			c := func(k string) string { return env[k] }
			err := runWith(context.Background(), c, 0, time.Millisecond)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			f.check(t, tc.want, tc.wantAuth)
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
