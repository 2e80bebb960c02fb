package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aciworker/aciworker/emulator/emutest"
)

// jsonLines fails unless every line of out is a JSON object with time,
// level and msg; it returns the records.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stderr line %q is not JSON: %v\nall of stderr:\n%s", line, err, out)
		}
		if m["time"] == nil || m["level"] == nil || m["msg"] == nil {
			t.Fatalf("stderr line %q lacks time, level or msg", line)
		}
		recs = append(recs, m)
	}
	return recs
}

func TestRunJSONLogs(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t)
	res := runCommand(t, t.Context(), emu, "", nil, "--log-format", "json", "--name", "json-logs", "--", "sh", "-c", "echo out; exit 4")
	if res.code != 4 || res.stdout != "out\n" {
		t.Fatalf("exit %d, stdout %q", res.code, res.stdout)
	}
	recs := jsonLines(t, res.stderr)
	if len(recs) < 3 {
		t.Fatalf("only %d records:\n%s", len(recs), res.stderr)
	}
	for _, r := range recs {
		if r["group"] != "json-logs" {
			t.Errorf("record without the group: %v", r)
		}
	}
}

// A bad format or level is a usage error naming where it came from.
func TestLogSettingsErrors(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-format", "xml", "--", "true"}, "--log-format"},
	} {
		res := runCommand(t, t.Context(), emu, "", nil, tt.args...)
		if res.code != 2 || !strings.Contains(res.stderr, tt.want) {
			t.Errorf("run %v: exit %d, stderr %q; want 2 naming %s", tt.args, res.code, res.stderr, tt.want)
		}
	}
}

// start with JSON logs and PREFECT_LOGGING_LEVEL=WARNING against an API that
// does not answer: warnings come, every line is JSON, none is INFO.
func TestStartJSONLogsAtWarning(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PREFECT_API_URL": "http://127.0.0.1:9/api", "PREFECT_LOGGING_LEVEL": "warning"}
	deps := cmdDeps{getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var stderr lockedBuffer
	stderr.on = func(s string) {
		if strings.Contains(s, `"level":"WARN"`) {
			cancel()
		}
	}
	cmd := newStartCmd(deps, nil)
	cmd.SetErr(&stderr)
	cmd.SetOut(&lockedBuffer{})
	cmd.SetArgs([]string{"--pool", "p", "--log-format", "json", "--emulator"})
	err := cmd.ExecuteContext(ctx)
	if ctx.Err() == nil {
		t.Fatalf("start ended before any warning: %v\n%s", err, stderr.String())
	}
	for _, r := range jsonLines(t, stderr.String()) {
		if r["level"] == "INFO" || r["level"] == "DEBUG" {
			t.Errorf("PREFECT_LOGGING_LEVEL=warning logged %v", r)
		}
	}
}

// With JSON logs, the message of a second signal (start exits at once) is
// a JSON record too: `timeout` and Kubernetes may deliver SIGTERM twice.
func TestStartSecondSignalLogsJSON(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PREFECT_API_URL": "http://127.0.0.1:9/api", "PREFECT_LOGGING_LEVEL": "warning"}
	sigs := make(chan os.Signal, 2)
	exited := make(chan int, 1)
	deps := cmdDeps{
		getenv:  func(k string) string { return env[k] },
		signals: func() (<-chan os.Signal, func()) { return sigs, func() {} },
		exit:    func(code int) { exited <- code },
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	warned := make(chan struct{})
	var once sync.Once
	var stderr lockedBuffer
	stderr.on = func(s string) {
		if strings.Contains(s, `"level":"WARN"`) {
			once.Do(func() { close(warned) })
		}
	}
	cmd := newStartCmd(deps, nil)
	cmd.SetErr(&stderr)
	cmd.SetOut(&lockedBuffer{})
	cmd.SetArgs([]string{"--pool", "p", "--log-format", "json", "--emulator"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	select {
	case <-warned:
	case err := <-done:
		t.Fatalf("start ended before any warning: %v\n%s", err, stderr.String())
	}
	sigs <- syscall.SIGTERM
	sigs <- syscall.SIGTERM
	select {
	case code := <-exited:
		if code != 143 {
			t.Errorf("exit code %d, want 143", code)
		}
	case <-ctx.Done():
		t.Fatalf("a second SIGTERM did not exit\n%s", stderr.String())
	}
	cancel()
	<-done
	recs := jsonLines(t, stderr.String())
	if last := recs[len(recs)-1]; !strings.Contains(last["msg"].(string), "again; exiting now") || last["level"] != "ERROR" {
		t.Errorf("last record %v, want the second signal's message at ERROR", last)
	}
}
