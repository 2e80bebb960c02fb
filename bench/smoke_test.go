package bench

import (
	"context"
	"log/slog"
	"os"
	"strings"
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
	doc, out := smokeRun(t, 8*time.Minute, Config{Settle: 2 * time.Second})
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
		if r.PeakRSSBytes <= 0 || r.IdleRSSBytes <= 0 || r.IdleRSSMaxBytes < r.IdleRSSBytes || r.ARMReads <= 0 || r.ARMWrites <= 0 || r.DeploymentPUTs != 3 {
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

// TestSmokeCheap runs the bench at N=3 for aciworker with the cheap engine:
// script containers in the emulator, one stand-in daemon setting every
// run's states. Same machine needs as TestSmoke.
func TestSmokeCheap(t *testing.T) {
	doc, out := smokeRun(t, 6*time.Minute, Config{
		Workers: []string{WorkerGo}, Engine: EngineCheap, StandinSleep: 2 * time.Second, Settle: time.Second,
	})
	if len(doc.Rows) != 1 {
		t.Fatalf("%d rows, want 1", len(doc.Rows))
	}
	r := doc.Rows[0]
	if r.Engine != EngineCheap || r.Completed != 3 || r.Crashed != 0 || r.Stuck != 0 || r.OtherTerminal != 0 {
		t.Errorf("engine %s: Completed=%d Crashed=%d other=%d stuck=%d, want cheap and 3 completed", r.Engine, r.Completed, r.Crashed, r.OtherTerminal, r.Stuck)
	}
	if r.GroupsLeft != 0 || r.DeploymentsLeft != 0 {
		t.Errorf("left %d groups, %d deployment records", r.GroupsLeft, r.DeploymentsLeft)
	}
	// Every run went through the daemon: Running, then Completed.
	data, err := os.ReadFile(out + "/logs/standin.log")
	if err != nil {
		t.Fatal(err)
	}
	log := string(data)
	if strings.Contains(log, "level=WARN") {
		t.Errorf("the stand-in daemon warned:\n%s", log)
	}
	for _, st := range []string{"RUNNING", "COMPLETED"} {
		if n := strings.Count(log, "msg=\"state set\""); n != 6 || strings.Count(log, "state="+st) != 3 {
			t.Errorf("the daemon set %d states, %d of them %s; want 6 and 3:\n%s", n, strings.Count(log, "state="+st), st, log)
		}
	}
	if t.Failed() {
		dumpLogs(t, out)
	}
}

// smokeRun runs the bench at N=3 with throttling on, on top of cfg, and
// returns the document and the output dir. A machine without root, unshare
// or port 443 skips the test, unless CI is set: then it fails.
func smokeRun(t *testing.T, timeout time.Duration, cfg Config) (*report.Document, string) {
	t.Helper()
	if err := Preflight("127.0.0.1:443"); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("bench smoke needs root, unshare and port 443 (CI unset, so skipping): %v", err)
		}
		t.Fatalf("bench smoke cannot run on this machine: %v", err)
	}
	cfg.Venv = pyvenv.Require(t)
	cfg.OutDir = t.TempDir()
	cfg.Ns, cfg.Throttling = []int{3}, true
	cfg.CleanupWait, cfg.RowTimeout = 60*time.Second, 3*time.Minute
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	doc, err := Run(ctx, cfg)
	if doc != nil {
		t.Logf("\n%s", report.Table(doc.Rows))
	}
	if err != nil {
		dumpLogs(t, cfg.OutDir)
		t.Fatalf("bench: %v", err)
	}
	return doc, cfg.OutDir
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
