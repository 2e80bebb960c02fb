package worker_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
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
		if t.Failed() {
			// A goroutine dump says where a stuck worker was.
			cmd.Process.Signal(syscall.SIGQUIT)
		} else {
			cmd.Process.Signal(syscall.SIGTERM)
		}
		err := cmd.Wait()
		if t.Failed() {
			head, dump, _ := strings.Cut(out.String(), "SIGQUIT")
			t.Logf("worker process (%v) log:\n%s\ngoroutines:\n%s", err, tail(head, 6000), tail(workerGoroutines(dump), 12000))
		}
		if p := os.Getenv("ACIWORKER_TEST_WORKER_LOG"); p != "" {
			os.WriteFile(filepath.Join(p, fmt.Sprintf("%s-%s-%d.log", t.Name(), name, cmd.Process.Pid)), []byte(out.String()), 0o644)
		}
	})
	return cmd, out
}
