package emulator_test

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/aciworker/aciworker/emulator/emutest"
	"github.com/aciworker/aciworker/internal/proctest"
)

// TestGroupTakesItsProcessesWithIt: once a group's DELETE or stop is done,
// no process its container started is left, even one that called setsid
// (as Prefect's runner starts the flow) and ignores SIGTERM.
func TestGroupTakesItsProcessesWithIt(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	ctx := ctxT(t)
	for _, tc := range []struct {
		name string
		end  func(group string) error
	}{
		{"delete", func(group string) error {
			p, err := s.groups.BeginDelete(ctx, s.set.ResourceGroup, group, nil)
			if err != nil {
				return err
			}
			_, err = p.PollUntilDone(ctx, fast)
			return err
		}},
		{"stop", func(group string) error {
			_, err := s.groups.Stop(ctx, s.set.ResourceGroup, group, nil)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			secs := fmt.Sprintf("%d.%d", 3000+rand.IntN(900), rand.IntN(1_000_000))
			t.Cleanup(func() {
				for _, pid := range proctest.FindArgv(t, "sleep", secs) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			group := "escape-" + tc.name
			cmd := fmt.Sprintf(`setsid sh -c 'trap "" TERM; exec sleep %s' </dev/null >/dev/null 2>&1 & sleep 1000`, secs)
			if _, err := createGroup(ctx, s, group, validGroup("sh", "-c", cmd)); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for len(proctest.FindArgv(t, "sleep", secs)) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the escaped child never ran")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := tc.end(group); err != nil {
				t.Fatal(err)
			}
			// Stop answers once the processes are killed; DELETE's
			// operation ends once they have exited: nothing to wait for.
			if left := proctest.FindArgv(t, "sleep", secs); len(left) > 0 {
				t.Fatalf("process %v outlived its group", left)
			}
		})
	}
}
