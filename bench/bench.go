// Package bench runs the same Prefect workload through prefect-azure's
// unmodified Python worker and through aciworker, against one Prefect server
// and one Azure emulator, and measures both: memory, CPU, ARM requests,
// throttling, submission latency, outcomes and what was left behind.
package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aciworker/aciworker/bench/procstat"
	"github.com/aciworker/aciworker/bench/report"
	"github.com/aciworker/aciworker/internal/freeport"
	"github.com/aciworker/aciworker/internal/pgcluster"
	"github.com/aciworker/aciworker/internal/pyvenv"
)

// Engines: what runs inside each emulated container.
const (
	EngineAuto    = "auto"    // real up to RealMaxN, stand-in up to StandinMaxN, cheap above
	EngineReal    = "real"    // prefect flow-run execute
	EngineStandin = "standin" // a small Go program that sets Running, then Completed
	// EngineCheap runs no process per container: the emulator's script
	// image calls one stand-in daemon that sets Running, sleeps, and calls
	// it again to set Completed.
	EngineCheap = "cheap"
)

// RealMaxN is the largest N the auto engine runs with the real engine: it
// costs ~5.6 s of CPU per run, which at larger N measures the engine, not
// the worker.
const RealMaxN = 10

// StandinMaxN is the largest N the auto engine runs with a stand-in
// process per container; above it, a process per container would measure
// the machine's process limits, not the worker.
const StandinMaxN = 500

// scriptImage is the emulator's image whose containers run no process.
const scriptImage = "aciworker/emulator-script:latest"

// Config is one bench invocation.
type Config struct {
	Ns           []int
	Workers      []string // default: both, Python first
	Engine       string   // EngineAuto by default
	StandinSleep time.Duration
	Throttling   bool
	Postgres     bool   // start a throwaway PostgreSQL for the Prefect server
	DatabaseURL  string // or use this one (overrides Postgres)
	OutDir       string
	Venv         string // "" -> the project virtualenv (created if needed)
	RepoRoot     string // "" -> found from the working directory
	EmulatorAddr string // default 127.0.0.1:443
	RowTimeout   time.Duration
	Settle       time.Duration // the idle window over which the idle RSS is sampled
	CleanupWait  time.Duration // how long to wait for the worker's own clean-up after the last run ends
	// Profile, when positive, records this long from each row's release
	// where the worker and the Prefect server spend their time (see
	// burstProfiler).
	Profile time.Duration
	Logger  *slog.Logger
}

func (c *Config) defaults() error {
	if len(c.Ns) == 0 {
		c.Ns = []int{10, 100, 500}
	}
	for _, n := range c.Ns {
		if n <= 0 {
			return fmt.Errorf("bench: N=%d: must be positive", n)
		}
	}
	if len(c.Workers) == 0 {
		c.Workers = []string{WorkerPython, WorkerGo}
	}
	for _, w := range c.Workers {
		if w != WorkerPython && w != WorkerGo {
			return fmt.Errorf("bench: worker %q: want %s or %s", w, WorkerPython, WorkerGo)
		}
	}
	switch c.Engine {
	case "":
		c.Engine = EngineAuto
	case EngineAuto, EngineReal, EngineStandin, EngineCheap:
	default:
		return fmt.Errorf("bench: engine %q: want %s, %s, %s or %s", c.Engine, EngineAuto, EngineReal, EngineStandin, EngineCheap)
	}
	if c.OutDir == "" {
		return errors.New("bench: OutDir is empty")
	}
	if c.EmulatorAddr == "" {
		c.EmulatorAddr = "127.0.0.1:443"
	}
	if c.Settle == 0 {
		c.Settle = 30 * time.Second
	}
	if c.CleanupWait == 0 {
		c.CleanupWait = 90 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// postgres says whether the Prefect server runs on PostgreSQL.
func (c *Config) postgres() bool {
	if c.DatabaseURL != "" {
		return strings.HasPrefix(c.DatabaseURL, "postgresql")
	}
	return c.Postgres
}

// EngineFor is the engine a row with n runs uses.
func (c *Config) EngineFor(n int) string {
	if c.Engine != EngineAuto {
		return c.Engine
	}
	switch {
	case n <= RealMaxN:
		return EngineReal
	case n <= StandinMaxN:
		return EngineStandin
	}
	return EngineCheap
}

// rowTimeout bounds one row from the first run created to the last run
// terminal: generous, because a stuck run is a result to report, not an
// error, and an overloaded worker is what the bench is there to show.
func (c *Config) rowTimeout(n int, engine string) time.Duration {
	if c.RowTimeout > 0 {
		return c.RowTimeout
	}
	per := 500 * time.Millisecond
	if engine == EngineReal {
		per = 4 * time.Second
	}
	return 3*time.Minute + time.Duration(n)*per + c.StandinSleep
}

// Preflight checks what the bench needs from the machine and says what is
// missing.
func Preflight(addr string) error {
	if os.Geteuid() != 0 {
		return errNotRoot
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return fmt.Errorf("unshare (util-linux) not found: the Python worker runs in its own mount namespace: %w", err)
	}
	if out, err := exec.Command("unshare", "--mount", "--", "true").CombinedOutput(); err != nil {
		return fmt.Errorf("`unshare --mount` fails here (a container without CAP_SYS_ADMIN?): %v: %s", err, strings.TrimSpace(string(out)))
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s for the emulator (the Python SDK only speaks to port 443): %w", addr, err)
	}
	return l.Close()
}

// Run runs every row and writes bench.json and bench.png into OutDir.
func Run(ctx context.Context, cfg Config) (*report.Document, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if err := Preflight(cfg.EmulatorAddr); err != nil {
		return nil, err
	}
	logDir := filepath.Join(cfg.OutDir, "logs")
	for _, d := range []string{cfg.OutDir, logDir, filepath.Join(cfg.OutDir, "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	root := cfg.RepoRoot
	if root == "" {
		var err error
		if root, err = pyvenv.RepoRoot(); err != nil {
			return nil, err
		}
	}
	venv := cfg.Venv
	if venv == "" {
		log.Info("preparing the Prefect virtualenv (prefect + prefect-azure)")
		var err error
		if venv, err = pyvenv.Ensure(ctx); err != nil {
			return nil, err
		}
	}
	bins, err := buildBinaries(ctx, root, filepath.Join(cfg.OutDir, "bin"))
	if err != nil {
		return nil, err
	}

	dbURL, database := cfg.DatabaseURL, "sqlite"
	if dbURL != "" {
		database = "postgres (given)"
	} else if cfg.Postgres {
		pg, err := pgcluster.Start(ctx, 500)
		if err != nil {
			return nil, err
		}
		defer pg.Stop()
		log.Info("postgres ready", "log", pg.Log)
		dbURL, database = pg.URL, "postgres"
	}
	srv, err := startPrefectServer(ctx, venv, cfg.OutDir, dbURL, log)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	var prof profileTools
	if cfg.Profile > 0 {
		if prof.pySpy, err = ensurePySpy(ctx, venv); err != nil {
			return nil, err
		}
		prof.pgURL, _ = libpqURL(dbURL)
	}

	emu, err := startEmulator(ctx, bins.aciworker, cfg.EmulatorAddr, filepath.Join(venv, "bin"), logDir, cfg.Throttling, slices.Max(cfg.Ns)+50)
	if err != nil {
		return nil, err
	}
	defer emu.stop()
	log.Info("emulator ready", "arm", emu.env["ACIWORKER_ARM_ENDPOINT"], "throttling", cfg.Throttling)

	var standinURL string
	if slices.ContainsFunc(cfg.Ns, func(n int) bool { return cfg.EngineFor(n) == EngineCheap }) {
		d, url, err := startStandinDaemon(ctx, bins.standin, srv.apiURL, logDir)
		if err != nil {
			return nil, err
		}
		defer d.stop(10 * time.Second)
		standinURL = url
		log.Info("stand-in daemon ready", "url", url)
	}

	inv, err := newInventory(emu.env, emu.client)
	if err != nil {
		return nil, err
	}
	py, err := preparePython(ctx, venv, cfg.OutDir, emu.env["SSL_CERT_FILE"])
	if err != nil {
		return nil, err
	}
	flowDir, err := writeFlow(cfg.OutDir)
	if err != nil {
		return nil, err
	}
	api := newAPI(srv.apiURL)
	flowID, err := api.createFlow(ctx, flowName)
	if err != nil {
		return nil, err
	}

	r := &runner{cfg: cfg, venv: venv, bins: bins, srv: srv, emu: emu, inv: inv, py: py, api: api, flowID: flowID, flowDir: flowDir, standinURL: standinURL, prof: prof}
	doc := &report.Document{Meta: report.Meta{
		Date: time.Now().UTC(), CPUs: runtime.NumCPU(), MemoryMB: memTotalMB(), Database: database,
		Versions: fmt.Sprintf("%s, %s, %s", pyvenv.PrefectPin, pyvenv.PrefectAzurePin, runtime.Version()),
		Command:  strings.Join(os.Args, " "),
	}}
	var rowErrs []error
	for _, n := range cfg.Ns {
		for _, w := range cfg.Workers {
			if ctx.Err() != nil {
				return doc, ctx.Err()
			}
			row, err := r.row(ctx, w, n)
			if err != nil {
				log.Error("row failed", "worker", w, "n", n, "err", err)
				rowErrs = append(rowErrs, fmt.Errorf("%s N=%d: %w", w, n, err))
				row.Notes = strings.TrimSpace(row.Notes + " bench error: " + err.Error())
			}
			doc.Rows = append(doc.Rows, row)
			log.Info("row done", "worker", w, "n", n, "completed", row.Completed, "stuck", row.Stuck)
			if err := writeOutputs(cfg.OutDir, doc); err != nil {
				return doc, err
			}
		}
	}
	return doc, errors.Join(rowErrs...)
}

func writeOutputs(dir string, doc *report.Document) error {
	j, err := os.Create(filepath.Join(dir, "bench.json"))
	if err != nil {
		return err
	}
	if err := report.WriteJSON(j, *doc); err != nil {
		j.Close()
		return err
	}
	if err := j.Close(); err != nil {
		return err
	}
	p, err := os.Create(filepath.Join(dir, "bench.png"))
	if err != nil {
		return err
	}
	if err := report.WritePNG(p, doc.Rows); err != nil {
		p.Close()
		return err
	}
	if err := p.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "bench.md"), []byte(report.Table(doc.Rows)), 0o644)
}

type binaries struct{ aciworker, standin string }

func buildBinaries(ctx context.Context, root, dir string) (binaries, error) {
	b := binaries{aciworker: filepath.Join(dir, "aciworker"), standin: filepath.Join(dir, "standin")}
	for out, pkg := range map[string]string{b.aciworker: "./cmd/aciworker", b.standin: "./bench/standin"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = root
		// Static, as aciworker ships: a cgo build maps the C library too.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if o, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("go build %s: %w\n%s", pkg, err, o)
		}
	}
	return b, nil
}

const (
	flowName       = "bench-hello"
	flowEntrypoint = "flows.py:hello"
)

// writeFlow writes the small real flow the deployments run.
func writeFlow(outDir string) (string, error) {
	dir := filepath.Join(outDir, "flow")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src := "from prefect import flow\n\n\n@flow(name=\"" + flowName + "\", log_prints=True)\ndef hello():\n    print(\"hello from the bench\")\n    return 1\n"
	return dir, os.WriteFile(filepath.Join(dir, "flows.py"), []byte(src), 0o644)
}

func memTotalMB() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	var kb int64
	for line := range strings.SplitSeq(string(data), "\n") {
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			return kb / 1024
		}
	}
	return 0
}

// runner holds what every row shares.
type runner struct {
	cfg     Config
	venv    string
	bins    binaries
	srv     *prefectServer
	emu     *emulatorProc
	inv     *inventory
	py      *pythonSetup
	api     *prefectAPI
	flowID  string
	flowDir string
	rowSeq  int
	// standinURL is the stand-in daemon's, when a row uses the cheap engine.
	standinURL string
	prof       profileTools
}

// profileTools are what --profile records the Prefect server with.
type profileTools struct {
	pySpy string
	pgURL string // "" on SQLite
}

var terminal = []string{"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}

// row measures one worker through one workload of n runs: a fresh pool and
// deployment, a fresh worker process, n runs scheduled at once.
func (r *runner) row(ctx context.Context, worker string, n int) (report.Row, error) {
	log := r.cfg.Logger.With("worker", worker, "n", n)
	engine := r.cfg.EngineFor(n)
	row := report.Row{Worker: worker, Engine: engine, N: n, Throttling: r.cfg.Throttling}
	r.rowSeq++
	short := map[string]string{WorkerPython: "py", WorkerGo: "go"}[worker]
	pool := fmt.Sprintf("bench-%d-%s-%d", r.rowSeq, short, n)

	if out, err := r.cli(ctx, "work-pool", "create", pool, "--type", "azure-container-instance"); err != nil {
		return row, fmt.Errorf("create pool %s: %w\n%s", pool, err, out)
	}
	if err := r.api.setPoolPaused(ctx, pool, true); err != nil {
		return row, err
	}
	command := filepath.Join(r.venv, "bin", "prefect") + " flow-run execute"
	switch engine {
	case EngineStandin:
		command = fmt.Sprintf("%s --sleep %s", r.bins.standin, r.cfg.StandinSleep)
	case EngineCheap:
		command = cheapCommand(r.standinURL, r.cfg.StandinSleep)
	}
	jobVars := map[string]any{
		"resource_group_name": r.emu.env["AZURE_RESOURCE_GROUP"],
		"subscription_id":     r.emu.env["AZURE_SUBSCRIPTION_ID"],
		"command":             command,
		// The containers talk to the server directly: only the worker's
		// own requests go through the counting proxy. Both workers let a
		// job variable's env override their own Prefect settings.
		"env": map[string]any{"PREFECT_API_URL": r.srv.apiURL},
	}
	if engine == EngineCheap {
		jobVars["image"] = scriptImage
	}
	depID, err := r.api.createDeployment(ctx, pool, r.flowID, pool, r.flowDir, flowEntrypoint, jobVars)
	if err != nil {
		return row, err
	}

	home := filepath.Join(r.cfg.OutDir, "homes", pool)
	if err := os.MkdirAll(home, 0o755); err != nil {
		return row, err
	}
	proxy, err := startCountingProxy(r.srv.apiURL)
	if err != nil {
		return row, err
	}
	defer proxy.stop()
	spec := workerSpec{worker: worker, pool: pool, venv: r.venv, aciworker: r.bins.aciworker, apiURL: proxy.url,
		home: home, emuEnv: r.emu.env, python: r.py}
	var prof *burstProfiler
	if r.cfg.Profile > 0 {
		prof = &burstProfiler{logDir: filepath.Join(r.cfg.OutDir, "logs"), pool: pool, window: r.cfg.Profile,
			serverPID: r.srv.proc.pid(), emuPID: r.emu.proc.pid(), pySpy: r.prof.pySpy, pgURL: r.prof.pgURL, log: log}
		if worker == WorkerGo {
			port, err := freeport.Get()
			if err != nil {
				return row, err
			}
			prof.pprofAddr = "127.0.0.1:" + strconv.Itoa(port)
			spec.extraFlags = append(spec.extraFlags, "--pprof-addr", prof.pprofAddr)
		}
	}
	cmd, err := spec.command()
	if err != nil {
		return row, err
	}
	wp, err := startProc(worker, cmd, filepath.Join(r.cfg.OutDir, "logs", pool+".log"))
	if err != nil {
		return row, err
	}
	defer wp.stop(20 * time.Second)
	if prof != nil {
		prof.workerPID = wp.pid()
	}
	watch := procstat.Watch(ctx, procstat.Reader{Root: "/proc"}, wp.pid(), 250*time.Millisecond)
	defer watch.Stop() //nolint:errcheck

	if err := r.waitWorkerReady(ctx, wp, pool); err != nil {
		return row, err
	}
	idleSamples, err := idleRSS(ctx, watch, r.cfg.Settle)
	if err != nil {
		return row, err
	}
	row.IdleRSSBytes, row.IdleRSSMaxBytes = median(idleSamples), slices.Max(idleSamples)

	// The pool is paused: create every run first (the server may take a
	// while), then release them all at once.
	runs, err := r.createRuns(ctx, depID, n)
	if err != nil {
		return row, err
	}
	if len(runs) != n {
		row.Notes = fmt.Sprintf("the deployment has %d runs, not %d (creation errors or retries); figures are per run created", len(runs), n)
	}
	before, err := r.emu.counters(ctx)
	if err != nil {
		return row, err
	}
	idle := watch.Now()
	reqBefore := proxy.snapshot()
	start := time.Now()
	if err := r.api.setPoolPaused(ctx, pool, false); err != nil {
		return row, err
	}
	log.Info("runs released", "pool", pool, "engine", engine, "runs", len(runs))
	if prof != nil {
		// Waited for before the worker is stopped (the defers run last
		// first).
		wait := prof.start(ctx)
		defer func() {
			if err := wait(); err != nil {
				log.Warn("writing the profile summary failed", "err", err)
			}
		}()
	}
	puts := &putTracker{}
	states, err := r.waitTerminal(ctx, puts, depID, runs, start.Add(r.cfg.rowTimeout(n, engine)))
	row.WallSeconds = time.Since(start).Seconds()
	if err != nil {
		return row, err
	}
	if ok, werr := wp.exited(); ok {
		row.Notes = strings.TrimSpace(row.Notes + fmt.Sprintf(" worker exited during the row (%v); see its log", werr))
	}
	r.waitCleanup(ctx, wp, puts, before, runs, worker == WorkerGo)
	if err := puts.collect(ctx, r.emu); err != nil {
		return row, err
	}

	end := watch.Now()
	reqs := proxy.snapshot().sub(reqBefore)
	row.PrefectRequests = reqs.total()
	row.PrefectRequestsPerRun = float64(row.PrefectRequests) / float64(max(len(runs), 1))
	if err := os.WriteFile(filepath.Join(r.cfg.OutDir, "logs", pool+"-prefect-requests.txt"), []byte(reqs.String()), 0o644); err != nil {
		return row, err
	}
	if err := os.WriteFile(filepath.Join(r.cfg.OutDir, "logs", pool+"-prefect-timeline.tsv"), []byte(proxy.timelineSince(start)), 0o644); err != nil {
		return row, err
	}
	row.PeakRSSBytes, row.PeakThreads = watch.Peak()
	row.CPUSeconds = (end.CPU - idle.CPU).Seconds()
	wp.stop(20 * time.Second)

	after, err := r.emu.counters(ctx)
	if err != nil {
		return row, err
	}
	d := after.sub(before)
	if err := os.WriteFile(filepath.Join(r.cfg.OutDir, "logs", pool+"-arm-requests.txt"), []byte(d.String()), 0o644); err != nil {
		return row, err
	}
	row.ARMReads, row.ARMWrites = d.reads(), d.writes()
	row.TokenRequests = d.count("token")
	row.Throttled = d.status(429)
	row.ReadsPerRun = float64(row.ARMReads) / float64(max(len(runs), 1))
	row.WritesPerRun = float64(row.ARMWrites) / float64(max(len(runs), 1))

	var lat []float64
	for id, sched := range runs {
		if t, ok := puts.first[id]; ok {
			// A run cannot be picked up before the pool is resumed.
			lat = append(lat, t.Sub(later(sched, start)).Seconds())
		}
	}
	if err := os.WriteFile(filepath.Join(r.cfg.OutDir, "logs", pool+"-puts.tsv"), []byte(puts.since(start)), 0o644); err != nil {
		return row, err
	}
	row.DeploymentPUTs = len(lat)
	row.SchedToPUTP50 = report.Percentile(lat, 0.5)
	row.SchedToPUTP95 = report.Percentile(lat, 0.95)

	for id := range runs {
		switch st := states[id]; {
		case st == "COMPLETED":
			row.Completed++
		case st == "CRASHED":
			row.Crashed++
		case slices.Contains(terminal, st):
			row.OtherTerminal++
		default:
			row.Stuck++
			// Retire it so nothing runs on into the next row.
			_ = r.api.forceState(ctx, id, "CANCELLED", "bench: not terminal at the row's deadline")
		}
	}
	if row.Completed > 0 {
		row.CPUPerRun = row.CPUSeconds / float64(row.Completed)
	}

	groups, err := r.inv.listGroups(ctx)
	if err != nil {
		return row, err
	}
	deps, err := r.inv.listDeployments(ctx)
	if err != nil {
		return row, err
	}
	row.GroupsLeft, row.DeploymentsLeft = len(groups), len(deps)
	if err := r.inv.clear(ctx, groups, deps); err != nil {
		return row, fmt.Errorf("clearing what the row left: %w", err)
	}
	return row, watch.Stop()
}

func newAPI(url string) *prefectAPI {
	return &prefectAPI{url: url, client: &http.Client{Timeout: 30 * time.Second}}
}

func (r *runner) cli(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(r.venv, "bin", "prefect"), args...)
	cmd.Env = append(baseEnv(), "PREFECT_API_URL="+r.srv.apiURL, "PREFECT_HOME="+r.srv.home)
	return cmd.CombinedOutput()
}

func (r *runner) waitWorkerReady(ctx context.Context, wp *proc, pool string) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		if ok, err := wp.exited(); ok {
			return fmt.Errorf("worker exited before its first heartbeat (%v); see %s", err, wp.log.Name())
		}
		if n, err := r.api.workerCount(ctx, pool); err == nil && n > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("worker sent no heartbeat to pool %s within 90s; see %s", pool, wp.log.Name())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// createRuns creates n runs of the deployment and returns every run it
// has (a create that timed out may still have happened) with its scheduled
// time. Two creates in parallel on SQLite, which locks under more; more on
// PostgreSQL, where 2 000 runs one pair at a time take many minutes.
func (r *runner) createRuns(ctx context.Context, depID string, n int) (map[string]time.Time, error) {
	parallel := 2
	if r.cfg.postgres() {
		parallel = 8
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next = make(chan struct{})
	)
	for range min(n, parallel) {
		wg.Go(func() {
			for range next {
				if _, err := r.api.createFlowRun(ctx, depID); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for range n {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	frs, err := r.api.flowRuns(ctx, depID)
	if err != nil {
		return nil, err
	}
	runs := make(map[string]time.Time, len(frs))
	for _, fr := range frs {
		runs[fr.ID] = fr.ExpectedStartTime
	}
	if len(runs) == 0 && len(errs) > 0 {
		return nil, fmt.Errorf("creating %d flow runs: all failed: %w", n, errs[0])
	}
	if len(errs) > 0 {
		r.cfg.Logger.Warn("some flow run creations failed", "failed", len(errs), "err", errs[0])
	}
	return runs, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// waitTerminal polls the runs until all are terminal or the deadline; it
// returns each run's last state type.
func (r *runner) waitTerminal(ctx context.Context, puts *putTracker, depID string, runs map[string]time.Time, deadline time.Time) (map[string]string, error) {
	states := map[string]string{}
	for {
		if err := puts.collect(ctx, r.emu); err != nil {
			return states, err
		}
		// One count per round rather than every run's state: at N = 2 000
		// reading them all every 2 s would load the Prefect server the
		// worker is measured against.
		open, err := r.api.countOpen(ctx, depID, terminal)
		if err != nil && ctx.Err() != nil {
			return states, ctx.Err()
		}
		last := time.Now().After(deadline)
		if (err == nil && open == 0) || last {
			frs, err := r.api.flowRuns(ctx, depID)
			switch {
			case err == nil:
				done := 0
				for _, fr := range frs {
					if _, ok := runs[fr.ID]; ok {
						states[fr.ID] = fr.StateType
						if slices.Contains(terminal, fr.StateType) {
							done++
						}
					}
				}
				if done == len(runs) || last {
					return states, nil
				}
			case ctx.Err() != nil:
				return states, ctx.Err()
			case last:
				return states, nil
			}
		}
		select {
		case <-ctx.Done():
			return states, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// waitCleanup gives the worker time to delete the groups of finished runs
// (both workers delete after the run ends) and, when records says it does,
// the deployment records: until it deleted one of each per run, or
// CleanupWait passes, or it exits. ARM's delete bucket (10/s once its 200
// are spent) makes these deletes trail the runs by minutes at N = 2 000.
func (r *runner) waitCleanup(ctx context.Context, wp *proc, puts *putTracker, before counters, runs map[string]time.Time, records bool) {
	deadline := time.Now().Add(r.cfg.CleanupWait)
	for time.Now().Before(deadline) {
		if ok, _ := wp.exited(); ok {
			return
		}
		_ = puts.collect(ctx, r.emu) // a failure shows up in the final collect
		c, err := r.emu.counters(ctx)
		if err == nil {
			d := c.sub(before)
			if d.succeeded("containerGroups.delete") >= len(runs) && (!records || d.succeeded("deployments.delete") >= len(runs)) {
				// A little more for deployment-record clean-up after the group.
				time.Sleep(3 * time.Second)
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// cheapCommand is the script of a cheap-engine container: the stand-in
// daemon sets the run Running, the container stays up for sleep, then the
// daemon sets the run Completed, and only then does the container exit.
func cheapCommand(daemonURL string, sleep time.Duration) string {
	vars := "PREFECT__FLOW_RUN_ID,PREFECT_API_URL,PREFECT_API_KEY,PREFECT_API_AUTH_STRING"
	return fmt.Sprintf("call %s/running %s sleep %s call %s/completed %s", daemonURL, vars, sleep, daemonURL, vars)
}

// idleRSS samples the idle worker's resident size once a second over the
// window. One reading at a fixed moment after start-up says little: the
// start-up rounds, then every poll and heartbeat, raise it and a trim lowers
// it again, by several megabytes either way, so a single reading depends on
// where in that cycle it falls.
func idleRSS(ctx context.Context, watch *procstat.Watcher, window time.Duration) ([]int64, error) {
	samples := []int64{watch.Now().RSS}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	end := time.After(window)
	for {
		select {
		case <-t.C:
			samples = append(samples, watch.Now().RSS)
		case <-end:
			return samples, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// median is the middle sample (the upper one of an even count).
func median(xs []int64) int64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}
