package worker_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// aciworkerBinary builds the command once per test binary.
func aciworkerBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "aciworker-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "aciworker")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/aciworker").CombinedOutput()
		if err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	if binErr != nil {
		t.Fatalf("go build ./cmd/aciworker: %v\n%s", binErr, binPath)
	}
	return binPath
}

// startProcess runs `aciworker start` as a separate process, as users do.
func (b *bed) startProcess(t *testing.T, name string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(aciworkerBinary(t), "start", "--pool", b.pool, "--name", name, "--polling-interval", "1")
	cmd.Env = append(b.s.CommandEnv(b.emu.Env()...), "PREFECT_WORKER_HEARTBEAT_SECONDS=5")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("worker process output:\n%s", tail(out.String(), 4000))
		}
	})
	return cmd, out
}

// kill -9 of the worker mid-run, then a restart: the run that was in flight
// still reaches its final state, the run that ended while no worker was
// there is cleaned up, and nothing is left behind.
func TestKillAndRestart(t *testing.T) {
	t.Parallel()
	defer os.RemoveAll(binDir)
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	long := b.deploy("survivor", t.TempDir(), "flows.py:x", b.jobVars(standinCommand("-sleep", "8s")))
	short := b.deploy("orphan", t.TempDir(), "flows.py:x", b.jobVars(standinCommand("-sleep", "1s")))
	longID := b.runDeployment(long, nil)
	shortID := b.runDeployment(short, nil)
	const name = "restartable-worker"
	first, _ := b.startProcess(t, name)
	b.waitRunning(longID, 2*time.Minute)
	b.waitRunning(shortID, 2*time.Minute)
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	// The short run finishes while no worker watches it.
	b.waitState(shortID, prefect.StateCompleted, time.Minute)
	second, out := b.startProcess(t, name)
	for _, id := range []string{longID, shortID} {
		if fr := b.waitFinal(id, 2*time.Minute); fr.StateType != prefect.StateCompleted {
			t.Errorf("run %s: %s (%s)", id, fr.StateType, stateMessage(fr))
		}
	}
	b.waitClean(time.Minute)
	if !strings.Contains(out.String(), "re-adopted flow run") {
		t.Errorf("the restarted worker did not say it re-adopted the run:\n%s", tail(out.String(), 3000))
	}
	// SIGTERM: the worker stops and exits 0.
	second.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- second.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("worker exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("worker did not exit within 30 s of SIGTERM")
	}
}
