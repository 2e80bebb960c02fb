package runtime

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/aciworker/aciworker/internal/proctest"
)

func TestDoomed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		procs []proc
		want  []int
	}{
		{"nothing marked", []proc{{pid: 10, ppid: 1}, {pid: 11, ppid: 10}}, nil},
		{"marked and its descendants", []proc{
			{pid: 10, ppid: 1, marked: true}, {pid: 11, ppid: 10}, {pid: 12, ppid: 11}, {pid: 13, ppid: 1},
		}, []int{10, 11, 12}},
		{"a descendant that cleared its environment", []proc{
			{pid: 20, ppid: 1}, {pid: 21, ppid: 20, marked: true}, {pid: 22, ppid: 21}, {pid: 23, ppid: 22, marked: true},
		}, []int{21, 22, 23}},
		{"a parent of a marked process is spared", []proc{{pid: 30, ppid: 1}, {pid: 31, ppid: 30, marked: true}}, []int{31}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := doomed(tt.procs)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("doomed = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestEscapedProcessEndsWithContainer: a process that leaves the container's
// process group (setsid, as Prefect's runner starts the flow) and ignores
// SIGTERM still ends with its container, whether the main process exits on
// its own, the container is stopped, or the runtime closes (the emulator's
// shutdown), with and without a PID namespace.
func TestEscapedProcessEndsWithContainer(t *testing.T) {
	t.Parallel()
	const waitForGo = "while [ ! -e go ]; do sleep 0.01; done"
	for _, ns := range []struct {
		name string
		noNS bool
	}{{"pidns", false}, {"marker", true}} {
		for _, mode := range []struct {
			name   string
			ending string // what the main process does once the child runs
			end    func(*Runtime, *Container) error
		}{
			{"main exits", waitForGo, func(_ *Runtime, c *Container) error {
				return os.WriteFile(filepath.Join(c.Dir(), "go"), nil, 0o644)
			}},
			{"stopped", "sleep 1000", func(_ *Runtime, c *Container) error { c.Stop(); return nil }},
			{"runtime closed", "sleep 1000", func(r *Runtime, _ *Container) error { r.Close(); return nil }},
		} {
			t.Run(ns.name+"/"+mode.name, func(t *testing.T) {
				t.Parallel()
				r := newRT(t, func(c *Config) { c.NoPIDNamespace = ns.noNS })
				secs := fmt.Sprintf("%d.%d", 3000+rand.IntN(900), rand.IntN(1_000_000))
				t.Cleanup(func() {
					for _, pid := range proctest.FindArgv(t, "sleep", secs) {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				})
				script := fmt.Sprintf(`setsid sh -c 'trap "" TERM; touch ready; exec sleep %s' </dev/null >/dev/null 2>&1 &
while [ ! -e ready ]; do sleep 0.01; done
%s`, secs, mode.ending)
				c := start(t, r, Spec{Command: sh(script), RestartPolicy: RestartNever})
				poll(t, "the escaped child", func() bool { return len(proctest.FindArgv(t, "sleep", secs)) == 1 })
				if err := mode.end(r, c); err != nil {
					t.Fatal(err)
				}
				st := waitDone(t, c)
				if st.Current.State != StateTerminated {
					t.Fatalf("status %+v", st.Current)
				}
				if left := proctest.FindArgv(t, "sleep", secs); len(left) > 0 {
					t.Fatalf("process %v outlived its container", left)
				}
			})
		}
	}
}

// TestMainProcessIsInit: in a PID namespace the container's main process is
// its init, as in a container without an init of its own (docker run
// without --init, ACI): the signals it sends itself are ignored, and the
// container still ends when it exits.
func TestMainProcessIsInit(t *testing.T) {
	t.Parallel()
	r := newRT(t)
	c := start(t, r, Spec{Command: sh("kill -15 $$; kill -9 $$; echo pid $$"), RestartPolicy: RestartNever})
	st := waitDone(t, c)
	if r.pidnsRefused.Load() {
		// Contained by its marker instead: checked as without a namespace.
		assertEndedByOwnSignal(t, c, st)
		return
	}
	if exitOf(st.Current) != 0 || c.Logs(0, false) != "pid 1\n" {
		t.Fatalf("status %+v logs %q, want exit 0 and pid 1", st.Current, c.Logs(0, false))
	}
}

// Without a PID namespace the main process is an ordinary process: the
// SIGTERM it sends itself ends the container.
func TestMainProcessWithoutPIDNamespace(t *testing.T) {
	t.Parallel()
	r := newRT(t, func(c *Config) { c.NoPIDNamespace = true })
	c := start(t, r, Spec{Command: sh("kill -15 $$; kill -9 $$; echo pid $$"), RestartPolicy: RestartNever})
	assertEndedByOwnSignal(t, c, waitDone(t, c))
}

func assertEndedByOwnSignal(t *testing.T, c *Container, st Status) {
	t.Helper()
	if exitOf(st.Current) != 143 || c.Logs(0, false) != "" {
		t.Fatalf("status %+v logs %q, want exit 143 (SIGTERM) and no output", st.Current, c.Logs(0, false))
	}
}
