package soak

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/pyvenv"
)

// TestSoakCI is the CI-sized soak: 60 runs through the real worker binary
// against a real Prefect server and the emulator, with every fault kind.
// Any finding fails it.
func TestSoakCI(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak takes minutes; skipped with -short")
	}
	pyvenv.Require(t)
	cfg := CIConfig()
	cfg.OutDir = t.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("soak: %v", err)
	}
	var b bytes.Buffer
	rep.WriteText(&b)
	t.Logf("\n%s", b.String())
	if rep.Created != cfg.Runs {
		t.Errorf("created %d runs, want %d", rep.Created, cfg.Runs)
	}
	if rep.Faults.WorkerKills != cfg.WorkerKills || rep.Faults.ServerRestarts != cfg.ServerRestarts {
		t.Errorf("disruptions: %d worker kills (want %d), %d server restarts (want %d)",
			rep.Faults.WorkerKills, cfg.WorkerKills, rep.Faults.ServerRestarts, cfg.ServerRestarts)
	}
	if !rep.Passed() {
		logs, _ := filepath.Glob(filepath.Join(cfg.OutDir, "logs", "worker-*.err"))
		for _, f := range logs {
			data, _ := os.ReadFile(f)
			if len(data) > 6000 {
				data = data[len(data)-6000:]
			}
			t.Logf("--- %s (tail)\n%s", filepath.Base(f), data)
		}
		t.Fatalf("the soak found %d problems (listed above)", len(rep.Findings))
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
