package runtime

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestIsScriptImage(t *testing.T) {
	t.Parallel()
	for image, want := range map[string]bool{
		"aciworker/emulator-script":                          true,
		"aciworker/emulator-script:1":                        true,
		"docker.io/aciworker/emulator-script:latest":         true,
		"index.docker.io/aciworker/emulator-script@sha256:0": true,
		"aciworker/emulator-scripts":                         false,
		"example.com/aciworker/emulator-script":              false,
		"prefecthq/prefect:3-latest":                         false,
	} {
		if got := IsScriptImage(image); got != want {
			t.Errorf("IsScriptImage(%q) = %v, want %v", image, got, want)
		}
	}
}

func TestParseScript(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		argv    []string
		want    []step
		wantErr string
	}{
		{"empty", nil, nil, ""},
		{"all verbs", []string{"echo", "hi there", "stderr", "oops", "sleep", "1.5s", "call", "http://127.0.0.1:9/x?t=1", "A,B_2", "exit", "3"},
			[]step{{kind: stepEcho, text: "hi there"}, {kind: stepStderr, text: "oops"}, {kind: stepSleep, d: 1500 * time.Millisecond},
				{kind: stepCall, text: "http://127.0.0.1:9/x?t=1", vars: []string{"A", "B_2"}}, {kind: stepExit, code: 3}}, ""},
		{"call without vars", []string{"call", "https://h/p", "-"}, []step{{kind: stepCall, text: "https://h/p"}}, ""},
		{"unknown verb", []string{"echo", "a", "slep", "1s"}, nil, `word 3: "slep" is not a step`},
		{"missing argument", []string{"sleep"}, nil, "word 1: sleep needs 1 argument"},
		{"call missing vars", []string{"call", "http://h/"}, nil, "word 1: call needs 2 argument"},
		{"bad duration", []string{"sleep", "soon"}, nil, `sleep "soon"`},
		{"negative duration", []string{"sleep", "-1s"}, nil, `sleep "-1s"`},
		{"bad scheme", []string{"call", "ftp://h/x", "-"}, nil, `"ftp://h/x" is not an http or https URL`},
		{"no host", []string{"call", "http:///x", "-"}, nil, "is not an http or https URL"},
		{"bad var list", []string{"call", "http://h/", "A,,B"}, nil, `"A,,B" is not a list of variable names`},
		{"exit out of range", []string{"exit", "256"}, nil, "want a code from 0 to 255"},
		{"exit not a number", []string{"exit", "x"}, nil, "want a code from 0 to 255"},
		{"steps after exit", []string{"exit", "0", "echo", "x"}, nil, "word 3: steps after exit never run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseScript(tt.argv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !slices.EqualFunc(got, tt.want, func(a, b step) bool {
				return a.kind == b.kind && a.d == b.d && a.text == b.text && a.code == b.code && slices.Equal(a.vars, b.vars)
			}) {
				t.Fatalf("steps = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// hook is a test call target: it records each request and answers with
// the next scripted status (the last one repeats).
type hook struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []callRequest
	statuses []int
	answer   string
}

func newHook(t *testing.T, answer string, statuses ...int) *hook {
	h := &hook{statuses: statuses, answer: answer}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body callRequest
		data, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(data, &body) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.bodies = append(h.bodies, body)
		status := http.StatusOK
		if n := len(h.bodies); len(h.statuses) > 0 {
			status = h.statuses[min(n, len(h.statuses))-1]
		}
		h.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, h.answer)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) calls() []callRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.bodies)
}

// TestScriptContainer runs scripts through the runtime: exit code, detail
// status, events, log and what the call target received.
func TestScriptContainer(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	r.callBackoff = time.Millisecond
	tests := []struct {
		name      string
		statuses  []int // the hook's answers, in order
		answer    string
		cmd       func(url string) []string
		code      int
		log       string // stdout and stderr, without timestamps
		calls     int
		secretOut bool // the variable not named in the call must not be sent
	}{
		{name: "runs to the end", cmd: func(string) []string { return []string{"echo", "hello", "sleep", "1ms", "stderr", "warn"} },
			code: 0, log: "hello\nwarn\n"},
		{name: "exit code", cmd: func(string) []string { return []string{"echo", "bye", "exit", "3"} }, code: 3, log: "bye\n"},
		{name: "Prefect's entrypoint first", cmd: func(string) []string { return []string{PrefectEntrypoint, "echo", "x"} }, code: 0, log: "x\n"},
		{name: "usage error", cmd: func(string) []string { return []string{"slep", "1s"} },
			code: 2, log: "script: word 1: \"slep\" is not a step (want sleep, echo, stderr, call or exit)\n"},
		{name: "call answered", statuses: []int{200}, answer: "flow run running\nsecond line\n",
			cmd:  func(u string) []string { return []string{"call", u + "/running", "RUN_ID,MISSING", "echo", "after"} },
			code: 0, log: "flow run running\nsecond line\nafter\n", calls: 1, secretOut: true},
		{name: "call retried after 503", statuses: []int{503, 200}, answer: "ok",
			cmd:  func(u string) []string { return []string{"call", u, "-"} },
			code: 0, log: "ok\n", calls: 2},
		{name: "call refused", statuses: []int{409}, answer: "rejected: run is cancelled\nmore",
			cmd:  func(u string) []string { return []string{"call", u + "/x?token=s3cret", "RUN_ID", "echo", "never"} },
			code: 1, log: "call URL/x: 409 Conflict: rejected: run is cancelled\n", calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHook(t, tt.answer, tt.statuses...)
			c := start(t, r, Spec{Image: ScriptImage + ":1", Command: tt.cmd(h.URL), RestartPolicy: RestartNever,
				Env: map[string]string{"RUN_ID": "r-1", "TOKEN": "s3cret"}})
			st := waitDone(t, c)
			wantDetail := map[bool]string{true: "Completed", false: "Error"}[tt.code == 0]
			if st.Current.State != StateTerminated || exitOf(st.Current) != tt.code || st.Current.DetailStatus != wantDetail {
				t.Fatalf("current = %+v (exit %d), want Terminated %d %s", st.Current, exitOf(st.Current), tt.code, wantDetail)
			}
			if got := eventNames(st.Events); !slices.Equal(got, []string{"Pulling", "Pulled", "Created", "Started"}) {
				t.Errorf("events %v", got)
			}
			if got := strings.ReplaceAll(c.Logs(0, false), h.URL, "URL"); got != tt.log {
				t.Errorf("log = %q, want %q", got, tt.log)
			}
			calls := h.calls()
			if len(calls) != tt.calls {
				t.Fatalf("%d calls, want %d", len(calls), tt.calls)
			}
			for _, call := range calls {
				if call.Group != c.Spec().Group || call.Container != "c" {
					t.Errorf("call names %s/%s", call.Group, call.Container)
				}
				if tt.secretOut && (len(call.Env) != 1 || call.Env["RUN_ID"] != "r-1") {
					t.Errorf("call env = %v, want only RUN_ID", call.Env)
				}
			}
			if c.Dir() != "" {
				t.Errorf("a script container has working dir %q", c.Dir())
			}
		})
	}
}

// TestScriptKillStopRestart: Kill ends a script like SIGKILL ends a process
// (exit 137, then the restart policy), Stop ends it for good, and a
// failing script restarts under OnFailure.
func TestScriptKillStopRestart(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	long := []string{"echo", "up", "sleep", "1h"}
	running := func(c *Container, restarts int32) func() bool {
		return func() bool { st := c.Status(); return st.Current.State == StateRunning && st.RestartCount == restarts }
	}

	t.Run("kill under Never", func(t *testing.T) {
		t.Parallel()
		c := start(t, r, Spec{Image: ScriptImage, Command: long, RestartPolicy: RestartNever})
		poll(t, "running", running(c, 0))
		c.Kill()
		if st := waitDone(t, c); exitOf(st.Current) != 137 || st.RestartCount != 0 {
			t.Fatalf("after Kill: %+v", st)
		}
	})
	t.Run("kill under Always", func(t *testing.T) {
		t.Parallel()
		c := start(t, r, Spec{Image: ScriptImage, Command: long, RestartPolicy: RestartAlways})
		poll(t, "running", running(c, 0))
		c.Kill()
		poll(t, "the restart", running(c, 1))
		if st := c.Status(); st.Previous == nil || exitOf(*st.Previous) != 137 {
			t.Fatalf("previous %+v, want exit 137", st.Previous)
		}
		c.Stop()
		st := c.Status()
		if exitOf(st.Current) != 137 || st.Current.State != StateTerminated {
			t.Fatalf("after Stop: %+v", st.Current)
		}
		if ev, ok := findEvent(st.Events, "Killing"); !ok || ev.Count != 1 {
			t.Errorf("Killing event %+v", ev)
		}
		if got := c.Logs(0, false); got != "up\nup\n" {
			t.Errorf("log across the restart = %q", got)
		}
	})
	t.Run("failure under OnFailure", func(t *testing.T) {
		t.Parallel()
		c := start(t, r, Spec{Image: ScriptImage, Command: []string{"exit", "1"}, RestartPolicy: RestartOnFailure})
		poll(t, "two restarts", func() bool { return c.Status().RestartCount >= 2 })
		c.Stop()
		if st := c.Status(); st.Previous == nil || exitOf(*st.Previous) != 1 {
			t.Fatalf("previous %+v, want exit 1", st.Previous)
		}
	})
	t.Run("stop during a call", func(t *testing.T) {
		t.Parallel()
		block := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(block) })
		c := start(t, r, Spec{Image: ScriptImage, Command: []string{"call", srv.URL, "-"}, RestartPolicy: RestartNever})
		poll(t, "running", running(c, 0))
		c.Stop()
		if st := c.Status(); exitOf(st.Current) != 137 {
			t.Fatalf("after Stop: %+v", st.Current)
		}
	})
}

// TestScriptCallTimeout: an attempt that outlives CallTimeout fails and is
// retried; when every attempt does, the script exits 1.
func TestScriptCallTimeout(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	attempts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts++
		mu.Unlock()
		// The server notices a closed connection only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	r := newRT(t, func(c *Config) { c.CallTimeout = 20 * time.Millisecond })
	r.callBackoff = time.Millisecond
	c := start(t, r, Spec{Image: ScriptImage, Command: []string{"call", srv.URL, "-"}, RestartPolicy: RestartNever})
	st := waitDone(t, c)
	if exitOf(st.Current) != 1 {
		t.Fatalf("exit %d, want 1; log %q", exitOf(st.Current), c.Logs(0, false))
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts != callAttempts {
		t.Errorf("%d attempts, want %d", attempts, callAttempts)
	}
	if log := c.Logs(0, false); !strings.Contains(log, "deadline exceeded") {
		t.Errorf("log %q does not say the call timed out", log)
	}
}

// TestScriptNoProcess: a script container starts no process, so the work
// root stays empty.
func TestScriptNoProcess(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	r := newRT(t, func(c *Config) { c.WorkRoot = root })
	c := start(t, r, Spec{Image: ScriptImage, Command: []string{"echo", "x"}, RestartPolicy: RestartNever})
	waitDone(t, c)
	if entries, err := os.ReadDir(root); err != nil || len(entries) != 0 {
		t.Fatalf("work root has %v (err %v), want nothing", entries, err)
	}
}
