package worker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/emutest"
	"github.com/aciworker/aciworker/internal/pgcluster"
	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/worker"
	"github.com/aciworker/aciworker/worker/internal/standin"
)

func TestMain(m *testing.M) {
	// The test binary doubles as the light stand-in engine that emulated
	// containers run (see standinCommand).
	if len(os.Args) > 1 && os.Args[1] == "-standin" {
		os.Exit(standin.Main(os.Args[2:]))
	}
	// The package's shared Prefect server is on PostgreSQL wherever its
	// server binaries are (CI installs them). A SQLite-backed server shared
	// by parallel scenarios, their stand-ins all writing states, once left
	// a CI run's requests unanswered for over a minute (SQLite takes one
	// writer at a time), and the scenario waiting on it failed.
	// ACIWORKER_TEST_POSTGRES=1 insists on PostgreSQL.
	code := prefecttest.Run(m, prefecttest.Options{Postgres: os.Getenv("ACIWORKER_TEST_POSTGRES") != "" || pgcluster.Available()})
	// The aciworker binary that tests start as a process is built once
	// and shared: it goes when every test is over, not with the first
	// test that used it (with -count, or a test that starts it later).
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// bed is one end-to-end test bed: the package's Prefect server, an emulator
// of its own and a pool of its own.
type bed struct {
	t    testing.TB
	s    *prefecttest.Server
	pf   *prefect.Client
	emu  *emulator.Emulator
	az   *aci.Client
	pool string
	venv string
	env  []string // the worker's environment (Prefect settings)
}

func randomSuffix() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newBed(t testing.TB, s *prefecttest.Server, emuOpts ...func(*emulator.Config)) *bed {
	t.Helper()
	b := &bed{t: t, s: s, pool: "aci-" + randomSuffix(), venv: s.Venv, env: s.Env()}
	emuOpts = append([]func(*emulator.Config){func(c *emulator.Config) {
		c.PrefectBin = filepath.Join(s.Venv, "bin")
	}}, emuOpts...)
	b.emu = emutest.Start(t, emuOpts...)
	pf, err := prefect.New(prefect.ConfigFromEnv(s.Getenv))
	if err != nil {
		t.Fatal(err)
	}
	b.pf = pf
	b.az = b.azureClient()
	return b
}

func (b *bed) settings() aci.Settings {
	es := b.emu.Settings()
	return aci.Settings{
		ARMEndpoint: b.emu.URL(), AuthorityHost: b.emu.AuthorityHost(),
		TenantID: es.TenantID, ClientID: es.ClientID, ClientSecret: es.ClientSecret,
		Transport: b.emu.Client(),
	}
}

func (b *bed) azureClient() *aci.Client {
	// A budget of its own, apart from the worker's, as an operator's own
	// tools have.
	s := b.settings()
	cred, err := s.Credential()
	if err != nil {
		b.t.Fatal(err)
	}
	c, err := aci.NewClient(b.emu.Settings().SubscriptionID, cred, s)
	if err != nil {
		b.t.Fatal(err)
	}
	return c
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// createPool makes the pool with the stock template, as a worker would.
func (b *bed) createPool(template map[string]any) {
	b.t.Helper()
	if template == nil {
		var err error
		if template, err = worker.DefaultBaseJobTemplate(); err != nil {
			b.t.Fatal(err)
		}
	}
	if _, err := b.pf.CreateWorkPool(ctxFor(b.t, 3*time.Minute), prefect.WorkPoolCreate{Name: b.pool, Type: worker.Type, BaseJobTemplate: template}); err != nil {
		b.t.Fatal(err)
	}
}

// jobVars are the job variables every deployment of the bed needs.
func (b *bed) jobVars(command string) map[string]any {
	es := b.emu.Settings()
	jv := map[string]any{
		"resource_group_name": es.ResourceGroup,
		"subscription_id":     es.SubscriptionID,
		"image":               "prefecthq/prefect:3-latest",
	}
	if command != "" {
		jv["command"] = command
	}
	return jv
}

// engineCommand runs the real engine from the test virtualenv.
func (b *bed) engineCommand() string {
	return filepath.Join(b.venv, "bin", "prefect") + " flow-run execute"
}

// deploy creates a deployment of a flow whose code is in dir.
func (b *bed) deploy(flowName, dir, entrypoint string, jobVars map[string]any) string {
	b.t.Helper()
	ctx := ctxFor(b.t, 3*time.Minute)
	f, err := b.pf.CreateFlow(ctx, flowName)
	if err != nil {
		b.t.Fatal(err)
	}
	d, err := b.pf.CreateDeployment(ctx, prefect.DeploymentCreate{
		Name: "d-" + randomSuffix(), FlowID: f.ID, WorkPoolName: b.pool, Entrypoint: entrypoint,
		PullSteps:    []map[string]any{prefect.SetWorkingDirectoryStep(dir)},
		JobVariables: jobVars, Parameters: map[string]any{},
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return d.ID
}

func (b *bed) runDeployment(depID string, jobVars map[string]any) string {
	b.t.Helper()
	fr, err := b.pf.CreateFlowRunFromDeployment(ctxFor(b.t, 3*time.Minute), depID, prefect.FlowRunCreate{JobVariables: jobVars})
	if err != nil {
		b.t.Fatal(err)
	}
	return fr.ID
}

// workerOpts are fast settings for tests.
func (b *bed) config(mod ...func(*worker.Config)) worker.Config {
	cfg := worker.Config{
		Pool:              b.pool,
		Name:              "test-worker-" + randomSuffix(),
		Prefect:           b.pf,
		Azure:             b.settings(),
		Environ:           b.env,
		QueryInterval:     time.Second,
		HeartbeatInterval: 5 * time.Second,
		WatchInterval:     time.Second,
		AdoptInterval:     3 * time.Second,
		ReconcileInterval: 3 * time.Second,
		CancelGrace:       time.Second,
		Prefetch:          5 * time.Second,
		// Deaths nothing reports (a container exiting or killed without
		// its engine saying so) are seen within seconds, not minutes.
		CheckFirst: 2 * time.Second,
	}
	for _, m := range mod {
		m(&cfg)
	}
	return cfg
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startWorker runs a worker in this process until the test ends; its log
// and stdout are captured.
func (b *bed) startWorker(mod ...func(*worker.Config)) (*worker.Worker, *syncBuffer, func()) {
	b.t.Helper()
	out := &syncBuffer{}
	cfg := b.config(mod...)
	cfg.Logger = slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Stdout = out
	w, err := worker.New(cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				b.t.Errorf("worker.Run: %v", err)
			}
		})
	}
	b.t.Cleanup(func() {
		if b.t.Failed() {
			// Where the worker's goroutines wait says why it stalled.
			var dump strings.Builder
			pprof.Lookup("goroutine").WriteTo(&dump, 2)
			b.t.Logf("goroutines in worker code:\n%s", tail(workerGoroutines(dump.String()), 12000))
		}
		stop()
		if b.t.Failed() {
			b.t.Logf("worker log:\n%s", tail(out.String(), 6000))
		}
		if p := os.Getenv("ACIWORKER_TEST_WORKER_LOG"); p != "" {
			os.WriteFile(filepath.Join(p, strings.ReplaceAll(b.t.Name(), "/", "_")+"-"+cfg.Name+".log"), []byte(out.String()), 0o644)
		}
	})
	return w, out, stop
}

// workerGoroutines keeps the goroutines of a dump that run worker code.
func workerGoroutines(dump string) string {
	var keep []string
	for _, g := range strings.Split(dump, "\n\n") {
		if strings.Contains(g, "aciworker/worker.") && !strings.Contains(g, "worker_test.") {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, "\n\n")
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func isFinal(t string) bool {
	switch t {
	case prefect.StateCompleted, prefect.StateFailed, prefect.StateCrashed, prefect.StateCancelled:
		return true
	}
	return false
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s (last error: %v)", d, what, last)
}

// waitFinal waits until the flow run is in a final state and returns it.
func (b *bed) waitFinal(id string, d time.Duration) *prefect.FlowRun {
	b.t.Helper()
	var fr *prefect.FlowRun
	waitFor(b.t, d, "flow run "+id+" to finish", func() (bool, error) {
		var err error
		fr, err = b.pf.ReadFlowRun(context.Background(), id)
		if err != nil {
			return false, err
		}
		return isFinal(fr.StateType), nil
	})
	return fr
}

// waitClean waits until no container group and no deployment record is
// left in the emulator's resource group.
func (b *bed) waitClean(d time.Duration) {
	b.t.Helper()
	rg := b.emu.Settings().ResourceGroup
	// The client waits out throttling for as long as its context allows.
	ctx := ctxFor(b.t, d)
	waitFor(b.t, d, "no container group or deployment record left", func() (bool, error) {
		gs, err := b.az.ListGroups(ctx, rg)
		if err != nil {
			return false, err
		}
		ds, err := b.az.ListDeployments(ctx, rg)
		if err != nil {
			return false, err
		}
		if len(gs)+len(ds) > 0 {
			return false, fmt.Errorf("%d groups and %d deployment records left", len(gs), len(ds))
		}
		return true, nil
	})
}

func (b *bed) logs(id string) string {
	b.t.Helper()
	ls, err := b.pf.ReadLogs(context.Background(), prefect.LogFilter{FlowRunIDs: []string{id}, Limit: 200})
	if err != nil {
		b.t.Fatal(err)
	}
	var sb strings.Builder
	for _, l := range ls {
		sb.WriteString(l.Message)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// writeFlows writes a flows.py into a new directory.
func writeFlows(t testing.TB, src string) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flows.py"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// standinCommand runs this test binary as the stand-in engine.
func standinCommand(args ...string) string {
	return strings.Join(append([]string{os.Args[0], "-standin"}, args...), " ")
}

// scaleKnob reads a test size from the environment (benchmarks and soaks
// raise it), with the CI-sized default.
func scaleKnob(t testing.TB, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q is not a positive number", name, v)
		}
		return n
	}
	return def
}

// waitRunning waits until the run is Running and has its pid, and returns
// its container group.
func (b *bed) waitRunning(id string, d time.Duration) string {
	b.t.Helper()
	var group string
	waitFor(b.t, d, "flow run "+id+" running with a pid", func() (bool, error) {
		fr, err := b.pf.ReadFlowRun(context.Background(), id)
		if err != nil {
			return false, err
		}
		_, g, ok := strings.Cut(fr.InfrastructurePID, ":")
		group = g
		return fr.StateType == prefect.StateRunning && ok, nil
	})
	return group
}

// heavy serialises the tests that load the Prefect server with dozens of
// runs, so that they do not starve each other of the server.
var heavy sync.Mutex

// heavyServer is the Prefect server of those tests, apart from the one the
// scenario tests share: under dozens of concurrent runs Prefect on SQLite
// exhausts its connection pool behind "database is locked" and answers
// slowly or 503 for minutes, which failed unrelated scenarios running
// alongside. It is on PostgreSQL (what Prefect advises for load) when the
// machine has PostgreSQL's server tools, as CI does; else on SQLite.
var heavyServer = prefecttest.Extra(prefecttest.Options{Postgres: pgcluster.Available()})

// heavyBed serialises a heavy test and gives it a bed on heavyServer.
func heavyBed(t testing.TB, emuOpts ...func(*emulator.Config)) *bed {
	heavy.Lock()
	t.Cleanup(heavy.Unlock)
	return newBed(t, heavyServer.Get(t), emuOpts...)
}
