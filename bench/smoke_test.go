package bench

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aciworker/aciworker/bench/report"
	"github.com/aciworker/aciworker/internal/pyvenv"
)

// TestSmoke runs the whole bench at N=3 for both workers with throttling on,
// so the command cannot rot between full runs. It needs root (a mount
// namespace for the Python worker's hosts file, and port 443 for the
// emulator); under CI a machine without them is a failure, not a skip.
func TestSmoke(t *testing.T) {
	if err := Preflight("127.0.0.1:443"); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("bench smoke needs root, unshare and port 443 (CI unset, so skipping): %v", err)
		}
		t.Fatalf("bench smoke cannot run on this machine: %v", err)
	}
	venv := pyvenv.Require(t)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	doc, err := Run(ctx, Config{
		Ns:          []int{3},
		Throttling:  true,
		OutDir:      out,
		Venv:        venv,
		Settle:      2 * time.Second,
		CleanupWait: 60 * time.Second,
		RowTimeout:  3 * time.Minute,
		Logger:      slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if doc != nil {
		t.Logf("\n%s", report.Table(doc.Rows))
	}
	if err != nil {
		dumpLogs(t, out)
		t.Fatalf("bench: %v", err)
	}
	for _, f := range []string{"bench.json", "bench.md", "bench.png"} {
		if st, err := os.Stat(out + "/" + f); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	seen := map[string]bool{}
	for _, r := range doc.Rows {
		seen[r.Worker] = true
		if r.N != 3 || r.Completed != 3 || r.Stuck != 0 || r.Crashed != 0 {
			t.Errorf("%s: N=%d Completed=%d Crashed=%d stuck=%d, want 3 completed", r.Worker, r.N, r.Completed, r.Crashed, r.Stuck)
		}
		if r.GroupsLeft != 0 {
			t.Errorf("%s left %d container groups", r.Worker, r.GroupsLeft)
		}
		if r.PeakRSSBytes <= 0 || r.IdleRSSBytes <= 0 || r.ARMReads <= 0 || r.ARMWrites <= 0 || r.DeploymentPUTs != 3 {
			t.Errorf("%s: measurements missing: %+v", r.Worker, r)
		}
	}
	for _, w := range []string{WorkerPython, WorkerGo} {
		if !seen[w] {
			t.Errorf("no row for %s", w)
		}
	}
	// prefect-azure never deletes its ARM deployment records; aciworker must.
	for _, r := range doc.Rows {
		if r.Worker == WorkerGo && r.DeploymentsLeft != 0 {
			t.Errorf("aciworker left %d deployment records", r.DeploymentsLeft)
		}
	}
	if t.Failed() {
		dumpLogs(t, out)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// dumpLogs shows the tail of every process log, since the temp dir goes away.
func dumpLogs(t *testing.T, out string) {
	entries, _ := os.ReadDir(out + "/logs")
	for _, e := range entries {
		data, err := os.ReadFile(out + "/logs/" + e.Name())
		if err != nil {
			continue
		}
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		t.Logf("--- %s (tail)\n%s", e.Name(), data)
	}
}
