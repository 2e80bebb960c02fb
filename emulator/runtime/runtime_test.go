package runtime

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/proctest"
)

// testDeadline bounds every poll; tests never sleep for a fixed time.
const testDeadline = 30 * time.Second

func newRT(t *testing.T, mod ...func(*Config)) *Runtime {
	t.Helper()
	cfg := Config{
		BaseEnv:        []string{"PATH=" + os.Getenv("PATH")},
		WorkRoot:       t.TempDir(),
		RestartBackoff: 5 * time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	r := New(cfg)
	t.Cleanup(r.Close)
	return r
}

func start(t *testing.T, r *Runtime, spec Spec) *Container {
	t.Helper()
	if spec.Name == "" {
		spec.Name = "c"
	}
	if spec.Group == "" {
		spec.Group = "rg/" + strings.ReplaceAll(t.Name(), "/", "_")
	}
	if spec.Image == "" {
		spec.Image = "ubuntu:24.04"
	}
	c, err := r.Start(spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return c
}

func waitDone(t *testing.T, c *Container) Status {
	t.Helper()
	select {
	case <-c.Done():
		return c.Status()
	case <-time.After(testDeadline):
		t.Fatalf("container not done after %v: %+v\nlogs:\n%s", testDeadline, c.Status(), c.Logs(20, false))
		return Status{}
	}
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	wait := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(wait)
		wait = min(2*wait, 20*time.Millisecond)
	}
}

func exitOf(s State) int {
	if s.ExitCode == nil {
		return -1
	}
	return int(*s.ExitCode)
}

func eventNames(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Name)
	}
	return out
}

func findEvent(evs []Event, name string) (Event, bool) {
	for _, e := range evs {
		if e.Name == name {
			return e, true
		}
	}
	return Event{}, false
}

func sh(script string) []string { return []string{"sh", "-c", script} }

func TestExitCodes(t *testing.T) {
	t.Parallel()
	// Outside a PID namespace, so that a process can signal itself to
	// death: a namespace's init ignores its own signals (see
	// TestMainProcessIsInit).
	r := newRT(t, func(c *Config) { c.NoPIDNamespace = true })
	tests := []struct {
		name   string
		cmd    []string
		code   int
		detail string
	}{
		{"zero", []string{"true"}, 0, "Completed"},
		{"one", []string{"false"}, 1, "Error"},
		{"three", sh("exit 3"), 3, "Error"},
		{"sigkill", sh("kill -9 $$"), 137, "Error"},
		{"sigterm", sh("kill -15 $$"), 143, "Error"},
		{"not found", []string{"no-such-command-aciworker"}, 127, "Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := start(t, r, Spec{Command: tt.cmd, RestartPolicy: RestartNever})
			st := waitDone(t, c)
			if st.Current.State != StateTerminated || exitOf(st.Current) != tt.code || st.Current.DetailStatus != tt.detail {
				t.Fatalf("current = %+v (exit %d), want Terminated exit %d %s", st.Current, exitOf(st.Current), tt.code, tt.detail)
			}
			if st.Current.StartTime.IsZero() || st.Current.FinishTime.Before(st.Current.StartTime) {
				t.Errorf("times: start %v finish %v", st.Current.StartTime, st.Current.FinishTime)
			}
			if st.RestartCount != 0 || st.Previous != nil {
				t.Errorf("Never restarted: count %d previous %+v", st.RestartCount, st.Previous)
			}
			want := []string{"Pulling", "Pulled", "Created", "Started"}
			if tt.code == 127 {
				want = []string{"Pulling", "Pulled", "Created", "Failed"}
			}
			if got := eventNames(st.Events); !slices.Equal(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}
		})
	}
}

func TestRestartAlways(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	c := start(t, r, Spec{Command: sh("echo run; exit 2"), RestartPolicy: RestartAlways})
	// Output, not RestartCount: the count goes up before a run starts, and
	// a Stop then can come before that run writes anything.
	poll(t, "three runs' output", func() bool { return strings.Count(c.Logs(0, false), "run\n") >= 3 })
	st := c.Status()
	if st.RestartCount < 2 || st.Previous == nil || st.Previous.State != StateTerminated || exitOf(*st.Previous) != 2 {
		t.Fatalf("previous = %+v, want Terminated exit 2", st.Previous)
	}
	if ev, ok := findEvent(st.Events, "Started"); !ok || ev.Count < 2 || ev.LastTimestamp.Before(ev.FirstTimestamp) {
		t.Errorf("Started event %+v, want count >= 2", ev)
	}
	select {
	case <-c.Done():
		t.Fatal("Done closed for a container that restarts always")
	default:
	}
	c.Stop()
	st = waitDone(t, c)
	if st.Current.State != StateTerminated {
		t.Fatalf("after Stop: %+v", st.Current)
	}
	if got := strings.Count(c.Logs(0, false), "run\n"); got < 3 {
		t.Errorf("logs hold %d runs, want every run's output", got)
	}
}

func TestRestartOnFailure(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	// Fails once, then succeeds: the marker file persists in the working dir
	// across restarts.
	c := start(t, r, Spec{Command: sh("if [ -e marker ]; then echo ok; exit 0; fi; touch marker; exit 1"), RestartPolicy: RestartOnFailure})
	st := waitDone(t, c)
	if st.RestartCount != 1 || st.Previous == nil || exitOf(*st.Previous) != 1 || exitOf(st.Current) != 0 || st.Current.DetailStatus != "Completed" {
		t.Fatalf("status %+v previous %+v, want one restart after exit 1 then exit 0", st, st.Previous)
	}
	if got := c.Logs(0, false); got != "ok\n" {
		t.Errorf("logs %q", got)
	}
}

func TestRestartPolicyTable(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	tests := []struct {
		policy   string
		cmd      []string
		restarts bool
	}{
		{RestartNever, []string{"false"}, false},
		{RestartNever, []string{"true"}, false},
		{RestartOnFailure, []string{"true"}, false},
		{RestartOnFailure, []string{"false"}, true},
		{RestartAlways, []string{"true"}, true},
		{"", []string{"true"}, true}, // ACI's default is Always
	}
	for _, tt := range tests {
		t.Run(tt.policy+"/"+tt.cmd[0], func(t *testing.T) {
			t.Parallel()
			c := start(t, r, Spec{Command: tt.cmd, RestartPolicy: tt.policy})
			if tt.restarts {
				poll(t, "a restart", func() bool { return c.Status().RestartCount >= 1 })
				c.Stop()
				return
			}
			if st := waitDone(t, c); st.RestartCount != 0 {
				t.Fatalf("restarted %d times", st.RestartCount)
			}
		})
	}
}

func TestPassthroughEntrypoint(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	writeScript(t, filepath.Join(bin, "prefect"), "#!/bin/sh\necho \"fake prefect $*\"\n")
	r := newRT(t, func(c *Config) {
		c.PrefectBin = bin
		c.Images = []Image{{Pattern: "example.com/tool:*", DefaultCommand: []string{"/entry.sh", "echo", "default"}, PassthroughEntrypoints: []string{"/entry.sh"}}}
	})
	tests := []struct {
		image string
		cmd   []string
		want  string
	}{
		{"prefecthq/prefect:3-latest", []string{PrefectEntrypoint, "prefect", "flow-run", "execute"}, "fake prefect flow-run execute\n"},
		{"docker.io/prefecthq/prefect:3.1-python3.12", []string{PrefectEntrypoint, "echo", "hi"}, "hi\n"},
		{"prefecthq/prefect", []string{"prefect", "version"}, "fake prefect version\n"},
		{"example.com/tool:1", nil, "default\n"},
		{"example.com/tool:1", []string{"/entry.sh", "echo", "given"}, "given\n"},
	}
	for i, tt := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			c := start(t, r, Spec{Image: tt.image, Command: tt.cmd, RestartPolicy: RestartNever})
			st := waitDone(t, c)
			if exitOf(st.Current) != 0 {
				t.Fatalf("exit %d, events %+v", exitOf(st.Current), st.Events)
			}
			if got := c.Logs(0, false); got != tt.want {
				t.Errorf("logs %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNoCommand(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	c := start(t, r, Spec{RestartPolicy: RestartNever})
	st := waitDone(t, c)
	if st.Current.State != StateTerminated || exitOf(st.Current) != 127 {
		t.Fatalf("current %+v, want Terminated 127", st.Current)
	}
	ev, ok := findEvent(st.Events, "Failed")
	if !ok || ev.Type != EventWarning || !strings.Contains(ev.Message, "no command specified") {
		t.Fatalf("events %+v, want a Failed warning about the missing command", st.Events)
	}
	if _, ok := findEvent(st.Events, "Started"); ok {
		t.Error("a Started event for a container that could not start")
	}
}

func writeScript(t *testing.T, p, body string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestPathLookupUsesContainerEnv(t *testing.T) {
	t.Parallel()
	tools := t.TempDir()
	writeScript(t, filepath.Join(tools, "aciworker-tool"), "#!/bin/sh\necho tool ran\n")
	noexec := t.TempDir()
	if err := os.WriteFile(filepath.Join(noexec, "aciworker-tool"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRT(t)
	tests := []struct {
		name string
		path string
		code int
		logs string
	}{
		{"found via container PATH", tools + ":" + os.Getenv("PATH"), 0, "tool ran\n"},
		{"not on PATH", os.Getenv("PATH"), 127, ""},
		{"not executable", noexec, 126, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := start(t, r, Spec{Command: []string{"aciworker-tool"}, Env: map[string]string{"PATH": tt.path}, RestartPolicy: RestartNever})
			st := waitDone(t, c)
			if exitOf(st.Current) != tt.code {
				t.Fatalf("exit %d, want %d; events %+v", exitOf(st.Current), tt.code, st.Events)
			}
			if got := c.Logs(0, false); got != tt.logs {
				t.Errorf("logs %q, want %q", got, tt.logs)
			}
			if tt.code != 0 {
				if ev, ok := findEvent(st.Events, "Failed"); !ok || ev.Type != EventWarning || !strings.Contains(ev.Message, "aciworker-tool") {
					t.Errorf("events %+v, want a Failed warning naming the command", st.Events)
				}
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	t.Parallel()
	r := newRT(t, func(c *Config) {
		c.BaseEnv = append(c.BaseEnv, "FOO=base", "BAR=base", "HOME=/base/home")
	})
	tests := []struct {
		name string
		env  map[string]string
		want map[string]string // "" value: the working dir
	}{
		{"container wins", map[string]string{"FOO": "container", "SECRET": "s3"}, map[string]string{"FOO": "container", "BAR": "base", "SECRET": "s3", "HOME": ""}},
		{"home given", map[string]string{"HOME": "/given"}, map[string]string{"FOO": "base", "HOME": "/given"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := start(t, r, Spec{Command: []string{"env"}, Env: tt.env, RestartPolicy: RestartNever})
			waitDone(t, c)
			got := map[string][]string{}
			for _, l := range strings.Split(strings.TrimSpace(c.Logs(0, false)), "\n") {
				k, v, _ := strings.Cut(l, "=")
				got[k] = append(got[k], v)
			}
			for k, v := range tt.want {
				if v == "" {
					v = c.Dir()
				}
				if !slices.Equal(got[k], []string{v}) {
					t.Errorf("%s = %q, want exactly [%q]", k, got[k], v)
				}
			}
		})
	}
	// The working dir is where the command runs.
	c := start(t, r, Spec{Command: []string{"pwd"}, RestartPolicy: RestartNever})
	waitDone(t, c)
	if got := strings.TrimSpace(c.Logs(0, false)); got != c.Dir() {
		t.Errorf("pwd %q, want %q", got, c.Dir())
	}
}

func TestPlan(t *testing.T) {
	t.Parallel()
	prefect := DefaultImages()[1]
	tests := []struct {
		name     string
		cfg      Config
		rule     Image
		spec     Spec
		argv     []string
		noCmd    bool
		path     string
		homeGive bool
	}{
		{"passthrough dropped", Config{BaseEnv: []string{"PATH=/usr/bin"}, PrefectBin: "/venv/bin"}, prefect,
			Spec{Image: "prefecthq/prefect:3-latest", Command: []string{PrefectEntrypoint, "prefect", "x"}},
			[]string{"prefect", "x"}, false, "/venv/bin:/usr/bin", false},
		{"entrypoint elsewhere kept", Config{BaseEnv: []string{"PATH=/usr/bin"}}, prefect,
			Spec{Image: "prefecthq/prefect:3", Command: []string{"echo", PrefectEntrypoint}},
			[]string{"echo", PrefectEntrypoint}, false, "/usr/bin", false},
		{"path dirs after prefect bin", Config{BaseEnv: []string{"PATH=/usr/bin"}, PrefectBin: "/p"}, Image{PathDirs: []string{"/a", "/b"}},
			Spec{Image: "prefecthq/prefect:3", Command: []string{"x"}, Env: map[string]string{"PATH": "/c"}},
			[]string{"x"}, false, "/p:/a:/b:/c", false},
		{"prefect bin only for prefect images", Config{BaseEnv: []string{"PATH=/usr/bin"}, PrefectBin: "/p"}, Image{},
			Spec{Image: "python:3.12", Command: []string{"x"}},
			[]string{"x"}, false, "/usr/bin", false},
		{"default PATH", Config{}, Image{}, Spec{Command: []string{"x"}, Env: map[string]string{"HOME": "/h"}},
			[]string{"x"}, false, defaultPath, true},
		{"only the entrypoint", Config{}, prefect, Spec{Command: []string{PrefectEntrypoint}}, nil, true, defaultPath, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plan(tt.cfg, tt.rule, tt.spec)
			if !slices.Equal(p.argv, tt.argv) || p.noCmd != tt.noCmd || p.path != tt.path || p.homeGiven != tt.homeGive {
				t.Fatalf("plan = %+v, want argv %q noCmd %v path %q homeGiven %v", p, tt.argv, tt.noCmd, tt.path, tt.homeGive)
			}
			if !slices.Contains(p.env, "PATH="+tt.path) {
				t.Errorf("env %q lacks PATH=%s", p.env, tt.path)
			}
		})
	}
}

func TestImageRules(t *testing.T) {
	t.Parallel()
	r := New(Config{Images: []Image{{Pattern: "prefecthq/prefect:2-*", PullError: "gone"}}})
	tests := []struct {
		image       string
		passthrough bool
		pullError   string
	}{
		{"prefecthq/prefect:3-latest", true, ""},
		{"prefecthq/prefect:2-latest", false, "gone"}, // user rules first
		{"docker.io/prefecthq/prefect:3-python3.12", true, ""},
		{"prefecthq/prefect", true, ""},
		{"prefecthq/prefect@sha256:abc", true, ""},
		{"python:3.12", false, ""},
		{"evil/prefecthq/prefect:3", false, ""},
	}
	for _, tt := range tests {
		rule, _ := r.ImageRule(tt.image)
		if got := slices.Contains(rule.PassthroughEntrypoints, PrefectEntrypoint); got != tt.passthrough || rule.PullError != tt.pullError {
			t.Errorf("%s: rule %+v, want passthrough %v pullError %q", tt.image, rule, tt.passthrough, tt.pullError)
		}
	}
}

func TestSpecValidation(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{Name: "a", RestartPolicy: "Sometimes"}, `restartPolicy "Sometimes"`},
		{Spec{Name: "a", Env: map[string]string{"A=B": "x"}}, `"A=B"`},
		{Spec{Name: "a", Env: map[string]string{"K": "sec\x00ret"}}, `"K"`},
		{Spec{Name: "a", Command: []string{"a\x00"}}, "command[0]"},
	}
	for _, tt := range tests {
		_, err := r.Start(tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Start(%+v) error %v, want one naming %s", tt.spec, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "sec") {
			t.Errorf("error %q leaks the value", err)
		}
	}
}

func TestStdoutAndStderr(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	c := start(t, r, Spec{Command: sh("echo out1; echo err1 >&2; echo out2; printf tail"), RestartPolicy: RestartNever})
	waitDone(t, c)
	// The streams are read concurrently, so only each stream's own order is
	// fixed; the final unfinished line of stdout ends the log only if stderr
	// was read first.
	logs := c.Logs(0, false)
	lines := strings.Split(strings.TrimSuffix(logs, "\n"), "\n")
	sorted := slices.Sorted(slices.Values(lines))
	if want := []string{"err1", "out1", "out2", "tail"}; !slices.Equal(sorted, want) {
		t.Fatalf("logs %q, want lines %q", logs, want)
	}
	if i, j, k := slices.Index(lines, "out1"), slices.Index(lines, "out2"), slices.Index(lines, "tail"); i > j || j > k {
		t.Errorf("logs %q: stdout order lost", logs)
	}
	if strings.HasSuffix(logs, "tail\n") {
		t.Errorf("logs %q: a newline was added to the unfinished last line", logs)
	}
}

func TestPartialLineWhileRunning(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	c := start(t, r, Spec{Command: sh("echo full; printf partial; exec sleep 1000"), RestartPolicy: RestartNever})
	poll(t, "partial line", func() bool { return c.Logs(0, false) == "full\npartial" })
	ts := c.Logs(0, true)
	lines := strings.Split(ts, "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[1], " partial") {
		t.Fatalf("timestamped logs %q", ts)
	}
	c.Stop()
}

func TestManyLines(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	const n = 100_000
	c := start(t, r, Spec{Command: []string{"seq", "1", strconv.Itoa(n)}, RestartPolicy: RestartNever})
	if st := waitDone(t, c); exitOf(st.Current) != 0 {
		t.Fatalf("exit %d", exitOf(st.Current))
	}
	logs := c.Logs(0, true)
	lines := strings.Split(strings.TrimSuffix(logs, "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	prev := ""
	for i, l := range lines {
		ts, text, _ := strings.Cut(l, " ")
		if text != strconv.Itoa(i+1) {
			t.Fatalf("line %d = %q, want %d", i, text, i+1)
		}
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") || len(ts) != len(tsLayout)-5 {
			t.Fatalf("line %d timestamp %q is not fixed-width RFC 3339 UTC: %v", i, ts, err)
		}
		if ts < prev {
			t.Fatalf("line %d timestamp %q before %q", i, ts, prev)
		}
		prev = ts
	}
	if got := c.Logs(3, false); got != "99998\n99999\n100000\n" {
		t.Errorf("tail 3 = %q", got)
	}
}

func TestTimestampResolution(t *testing.T) {
	t.Parallel()
	r := newRT(t, func(c *Config) { c.TimestampResolution = time.Second })
	c := start(t, r, Spec{Command: []string{"seq", "1", "2000"}, RestartPolicy: RestartNever})
	waitDone(t, c)
	stamps := map[string]int{}
	for _, l := range strings.Split(strings.TrimSuffix(c.Logs(0, true), "\n"), "\n") {
		ts, _, _ := strings.Cut(l, " ")
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || tm.Nanosecond() != 0 {
			t.Fatalf("timestamp %q not truncated to the second (%v)", ts, err)
		}
		stamps[ts]++
	}
	// 2,000 lines arrive within a second or two: most share a timestamp.
	if len(stamps) > 3 {
		t.Errorf("%d distinct timestamps for 2000 lines at 1s resolution", len(stamps))
	}
}

func TestStoppedLogCaps(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	tests := []struct {
		name      string
		cmd       []string
		wantLines int
		wantLast  string
	}{
		{"1000 lines", []string{"seq", "1", "5000"}, 1000, "5000"},
		{"16 KB", sh(`i=0; while [ $i -lt 500 ]; do i=$((i+1)); printf '%099d\n' $i; done`), 16384 / 100, fmt.Sprintf("%099d", 500)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := start(t, r, Spec{Command: tt.cmd, RestartPolicy: RestartNever})
			waitDone(t, c)
			before := strings.Count(c.Logs(0, false), "\n")
			if before <= tt.wantLines {
				t.Fatalf("only %d lines before stop", before)
			}
			c.Stop()
			logs := c.Logs(0, false)
			lines := strings.Split(strings.TrimSuffix(logs, "\n"), "\n")
			if len(lines) != tt.wantLines || lines[len(lines)-1] != tt.wantLast || len(logs) > StoppedLogBytes {
				t.Fatalf("stopped log: %d lines, %d bytes, last %q; want %d lines ending %q", len(lines), len(logs), lines[len(lines)-1], tt.wantLines, tt.wantLast)
			}
			if st := c.Status(); exitOf(st.Current) != 0 {
				t.Errorf("Stop after exit changed the exit code to %d", exitOf(st.Current))
			}
		})
	}
}

func TestPullFailure(t *testing.T) {
	t.Parallel()
	r := newRT(t, func(c *Config) {
		c.Images = []Image{{Pattern: "ghcr.io/missing/*", PullError: "manifest unknown"}}
	})
	c := start(t, r, Spec{Image: "ghcr.io/missing/img:1", Command: []string{"touch", "started"}, RestartPolicy: RestartAlways})
	st := waitDone(t, c)
	if !st.PullFailed || st.Current.State != StateWaiting || st.Current.DetailStatus == "" {
		t.Fatalf("status %+v, want Waiting with a detail status and PullFailed", st)
	}
	want := []Event{
		{Name: "Pulling", Type: EventNormal, Message: `pulling image "ghcr.io/missing/img:1"`},
		{Name: "Failed", Type: EventWarning, Message: `Failed to pull image "ghcr.io/missing/img:1": manifest unknown`},
		{Name: "BackOff", Type: EventNormal, Message: `Back-off pulling image "ghcr.io/missing/img:1"`},
	}
	if len(st.Events) != len(want) {
		t.Fatalf("events %+v, want %+v", st.Events, want)
	}
	for i, w := range want {
		g := st.Events[i]
		if g.Name != w.Name || g.Type != w.Type || g.Message != w.Message || g.Count != 1 || g.FirstTimestamp.IsZero() {
			t.Errorf("event %d = %+v, want %+v", i, g, w)
		}
	}
	if _, err := os.Stat(filepath.Join(c.Dir(), "started")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the process ran after a failed pull: %v", err)
	}
}

func TestPullDelay(t *testing.T) {
	t.Parallel()
	r := newRT(t, func(c *Config) {
		c.Images = []Image{{Pattern: "slow/*", PullDelay: time.Hour}, {Pattern: "quick/*", PullDelay: time.Millisecond}}
	})
	slow := start(t, r, Spec{Image: "slow/img", Command: []string{"true"}, RestartPolicy: RestartNever})
	quick := start(t, r, Spec{Image: "quick/img", Command: []string{"true"}, RestartPolicy: RestartNever})
	if st := waitDone(t, quick); exitOf(st.Current) != 0 {
		t.Fatalf("quick: %+v", st)
	}
	st := slow.Status()
	if st.Current.State != StateWaiting || !slices.Equal(eventNames(st.Events), []string{"Pulling"}) {
		t.Fatalf("slow while pulling: %+v", st)
	}
	slow.Stop()
	st = waitDone(t, slow)
	if st.Current.State != StateTerminated || exitOf(st.Current) != 137 {
		t.Fatalf("slow after Stop: %+v", st.Current)
	}
	if _, ok := findEvent(st.Events, "Started"); ok {
		t.Error("a stopped pull started the process")
	}
}

// groupMembers lists live (non-zombie) processes in process group pgid.
func groupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	var out []int
	for _, p := range proctest.List(t) {
		if p.PGID == pgid {
			out = append(out, p.PID)
		}
	}
	return out
}

func (c *Container) currentPgid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pgid
}

func runningGroup(t *testing.T, c *Container, members int) int {
	t.Helper()
	var pgid int
	poll(t, fmt.Sprintf("%d processes in the container's group", members), func() bool {
		pgid = c.currentPgid()
		return pgid > 0 && len(groupMembers(t, pgid)) >= members
	})
	return pgid
}

func TestStopKillsProcessGroup(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	c := start(t, r, Spec{Command: sh("sleep 1000 & sleep 1000 & wait"), RestartPolicy: RestartAlways})
	pgid := runningGroup(t, c, 3)
	dir := c.Dir()
	c.Stop()
	st := waitDone(t, c)
	if st.Current.State != StateTerminated || exitOf(st.Current) != 137 {
		t.Fatalf("after Stop: %+v", st.Current)
	}
	if _, ok := findEvent(st.Events, "Killing"); !ok {
		t.Errorf("events %v lack Killing", eventNames(st.Events))
	}
	poll(t, "the group to be gone", func() bool { return len(groupMembers(t, pgid)) == 0 })
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("working dir still there after Stop: %v", err)
	}
	if st.RestartCount != 0 {
		t.Errorf("restarted after Stop: %d", st.RestartCount)
	}
	c.Stop() // idempotent
}

func TestMainExitKillsGroup(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	// The background sleep holds stdout open; the container still ends when
	// its main process does, as in a real container. It is found by its
	// command line: in a PID namespace $! is not the host's pid.
	secs := fmt.Sprintf("%d.%d", 2000+rand.IntN(900), rand.IntN(1_000_000))
	c := start(t, r, Spec{Command: sh("sleep " + secs + " & echo bye"), RestartPolicy: RestartNever})
	st := waitDone(t, c)
	if exitOf(st.Current) != 0 || c.Logs(0, false) != "bye\n" {
		t.Fatalf("status %+v logs %q", st.Current, c.Logs(0, false))
	}
	poll(t, "the background process to die", func() bool { return len(proctest.FindArgv(t, "sleep", secs)) == 0 })
}

func TestKill(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	tests := []struct {
		policy  string
		restart bool
	}{
		{RestartAlways, true},
		{RestartOnFailure, true},
		{RestartNever, false},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			t.Parallel()
			c := start(t, r, Spec{Command: sh("sleep 1000 & sleep 1000"), RestartPolicy: tt.policy})
			pgid := runningGroup(t, c, 2)
			c.Kill()
			poll(t, "the killed group to be gone", func() bool { return len(groupMembers(t, pgid)) == 0 })
			if !tt.restart {
				st := waitDone(t, c)
				if exitOf(st.Current) != 137 || st.RestartCount != 0 {
					t.Fatalf("after Kill: %+v", st)
				}
				return
			}
			poll(t, "the restart", func() bool {
				st := c.Status()
				return st.RestartCount == 1 && st.Current.State == StateRunning
			})
			st := c.Status()
			if st.Previous == nil || exitOf(*st.Previous) != 137 || st.Previous.DetailStatus != "Error" {
				t.Fatalf("previous %+v, want Terminated 137", st.Previous)
			}
			if ev, _ := findEvent(st.Events, "Started"); ev.Count != 2 {
				t.Errorf("Started count %d, want 2", ev.Count)
			}
			c.Stop()
		})
	}
}

func TestCloseKillsAll(t *testing.T) {
	t.Parallel()
	r := New(Config{BaseEnv: []string{"PATH=" + os.Getenv("PATH")}, WorkRoot: t.TempDir(), Images: []Image{{Pattern: "slow", PullDelay: time.Hour}}})
	var cs []*Container
	var groups []int
	for i := range 3 {
		c, err := r.Start(Spec{Group: "g", Name: fmt.Sprint("c", i), Image: "x", Command: sh("sleep 1000 & sleep 1000")})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		groups = append(groups, runningGroup(t, c, 2))
	}
	// One that is still pulling and one that already finished.
	pulling, err := r.Start(Spec{Name: "pulling", Image: "slow", Command: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	cs = append(cs, pulling)
	done, err := r.Start(Spec{Name: "done", Image: "x", Command: []string{"true"}, RestartPolicy: RestartNever})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, done)
	cs = append(cs, done)
	r.Close()
	for i, c := range cs {
		select {
		case <-c.Done():
		default:
			t.Errorf("container %d not done after Close", i)
		}
		if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("container %d dir left: %v", i, err)
		}
	}
	for _, g := range groups {
		poll(t, "groups gone", func() bool { return len(groupMembers(t, g)) == 0 })
	}
	if _, err := r.Start(Spec{Name: "late", Command: []string{"true"}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
	r.Close() // idempotent
}

func TestStatusIsACopy(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	c := start(t, r, Spec{Command: sh("exit 5"), RestartPolicy: RestartNever})
	st := waitDone(t, c)
	*st.Current.ExitCode = 0
	st.Events[0].Name = "changed"
	again := c.Status()
	if exitOf(again.Current) != 5 || again.Events[0].Name != "Pulling" {
		t.Fatalf("Status shares memory with the container: %+v", again)
	}
}
