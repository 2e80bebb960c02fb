package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/internal/buildinfo"
	"github.com/aciworker/aciworker/internal/logging"
	"github.com/aciworker/aciworker/internal/metrics"
	"github.com/aciworker/aciworker/internal/profiling"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/worker"
)

type startFlags struct {
	pool              string
	queues            []string
	name              string
	limit             int
	prefetch          float64
	pollingInterval   float64
	heartbeatInterval float64
	runOnce           bool
	healthcheck       bool
	workerType        string
	baseJobTemplate   string
	createPool        bool
	noCreatePool      bool
	installPolicy     string
	// The rest of `prefect worker start`'s arguments: negative forms,
	// the profile to use, and the CLI's prompt toggle.
	noRunOnce, noHealthcheck, emptyQueues, prompt, noPrompt bool
	profile                                                 string
	emulator                                                bool
	debug                                                   bool
	metricsAddr                                             string
	pprofAddr                                               string
	logs                                                    logFlags
}

// startOptions is what start's flags mean once checked (negated forms
// applied), with the command's I/O: all runStart acts on.
type startOptions struct {
	startFlags
	installPolicySet bool
	stdout, stderr   io.Writer
	ctx              context.Context
}

// newStartCmd builds `aciworker start`. runF, when set, receives the parsed
// options instead of the worker being run (the GitHub CLI's seam: tests
// check flag parsing without running anything).
func newStartCmd(deps cmdDeps, runF func(*startOptions) error) *cobra.Command {
	f := &startFlags{}
	cmd := &cobra.Command{
		Use:   "start --pool NAME",
		Short: "Run a Prefect worker that runs flow runs in Azure Container Instances",
		Long: `Run a Prefect worker for a work pool of type azure-container-instance: a drop-in
replacement for 'prefect worker start --type azure-container-instance'.

Prefect settings (PREFECT_API_URL, PREFECT_API_KEY, PREFECT_API_AUTH_STRING,
PREFECT_WORKER_HEARTBEAT_SECONDS / QUERY_SECONDS / PREFETCH_SECONDS / WEBSERVER_HOST /
WEBSERVER_PORT / ENABLE_CANCELLATION / CANCELLATION_POLL_SECONDS, ...) are read as Prefect
reads them: the environment, then .env, prefect.toml and pyproject.toml in the working
directory, then the active profile of profiles.toml (PREFECT_PROFILE, else its 'active';
the file from PREFECT_PROFILES_PATH, else $PREFECT_HOME, else ~/.prefect). A deployment
without an image runs prefecthq/prefect:<server's Prefect version>-python3.12
(ACIWORKER_DEFAULT_PYTHON, ACIWORKER_DEFAULT_IMAGE override it). Azure credentials: the pool's aci_credentials block when it holds a
service principal, else the Azure credential chain (AZURE_CLIENT_ID, AZURE_TENANT_ID,
AZURE_CLIENT_SECRET, workload or managed identity, az login).

On SIGINT or SIGTERM the worker stops polling and exits 0, leaving the containers of
runs in flight running: their state lives in Prefect and Azure, and the next worker
started on the pool (with the same --name at once, or any worker once this one shows
offline) re-adopts them and sees them to the end. A second signal exits at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := f.options(cmd)
			if err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return o.logs.report(runStart(o, deps))
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&f.pool, "pool", "p", "", "the work pool to poll (required)")
	fs.StringArrayVarP(&f.queues, "work-queue", "q", nil, "a work queue to poll (repeatable; default: every queue of the pool)")
	fs.StringVarP(&f.name, "name", "n", "", `the worker's name (default "AzureContainerWorker <uuid>")`)
	fs.IntVarP(&f.limit, "limit", "l", 0, "the most flow runs in flight at once (0: no limit)")
	fs.Float64Var(&f.prefetch, "prefetch-seconds", -1, "fetch runs scheduled up to this many seconds ahead (default $PREFECT_WORKER_PREFETCH_SECONDS or 10)")
	fs.Float64Var(&f.pollingInterval, "polling-interval", 0, "seconds between polls for scheduled runs (default $PREFECT_WORKER_QUERY_SECONDS or 10)")
	fs.Float64Var(&f.heartbeatInterval, "heartbeat-interval", 0, "seconds between heartbeats (default $PREFECT_WORKER_HEARTBEAT_SECONDS or 30)")
	fs.BoolVar(&f.runOnce, "run-once", false, "poll once, run what is scheduled, and exit when those runs are done")
	fs.BoolVar(&f.healthcheck, "with-healthcheck", false, "serve GET /health and GET /metrics on $PREFECT_WORKER_WEBSERVER_HOST:$PREFECT_WORKER_WEBSERVER_PORT (default 0.0.0.0:8080)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at GET /metrics on this address, e.g. :9090 (default $ACIWORKER_METRICS_ADDR; none)")
	fs.StringVar(&f.pprofAddr, "pprof-addr", "", "serve Go's runtime profiles (CPU, block, mutex, heap, goroutines) at /debug/pprof/ on this address, e.g. 127.0.0.1:6060 (default $ACIWORKER_PPROF_ADDR; none)")
	fs.StringVarP(&f.workerType, "type", "t", worker.Type, "the worker type; only azure-container-instance is supported")
	fs.StringVar(&f.baseJobTemplate, "base-job-template", "", "JSON file with the base job template for a pool this worker creates")
	fs.BoolVar(&f.createPool, "create-pool-if-not-found", true, "create the work pool if it does not exist (--no-create-pool-if-not-found: exit at once when it is missing)")
	fs.BoolVar(&f.noCreatePool, "no-create-pool-if-not-found", false, "exit at once, naming the pool, when the work pool does not exist")
	fs.StringVar(&f.installPolicy, "install-policy", "prompt", "accepted for 'prefect worker start' compatibility (always, if-not-present, never, prompt); aciworker installs nothing")
	fs.StringVar(&f.profile, "profile", "", "the Prefect profile to read settings from (default $PREFECT_PROFILE, else the active one)")
	fs.BoolVar(&f.noRunOnce, "no-run-once", false, "the default: keep polling")
	fs.BoolVar(&f.noHealthcheck, "no-with-healthcheck", false, "the default: no health check server")
	fs.BoolVar(&f.emptyQueues, "empty-work-queue", false, "poll every queue of the pool (clears --work-queue)")
	fs.BoolVar(&f.prompt, "prompt", false, "accepted for 'prefect worker start' compatibility; aciworker never prompts")
	fs.BoolVar(&f.noPrompt, "no-prompt", false, "accepted for 'prefect worker start' compatibility; aciworker never prompts")
	for _, name := range []string{"no-run-once", "no-with-healthcheck", "empty-work-queue", "prompt", "no-prompt"} {
		_ = fs.MarkHidden(name)
	}
	fs.BoolVar(&f.emulator, "emulator", false, "start the local Azure emulator in this process and use it instead of Azure")
	fs.BoolVar(&f.debug, "debug", false, "log debug messages (the same as PREFECT_LOGGING_LEVEL=DEBUG)")
	f.logs.register(fs)
	return cmd
}

// envSeconds reads a PREFECT_WORKER_* number of seconds.
func envSeconds(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || s < 0 {
		return 0, usageError("%s=%q is not a number of seconds", name, v)
	}
	return time.Duration(s * float64(time.Second)), nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// options checks the flags and applies their negated forms.
func (f *startFlags) options(cmd *cobra.Command) (*startOptions, error) {
	if strings.TrimSpace(f.pool) == "" {
		return nil, usageError("--pool is required")
	}
	if f.workerType != worker.Type {
		return nil, usageError("--type %q is not supported: aciworker is an %s worker", f.workerType, worker.Type)
	}
	if f.limit < 0 {
		return nil, usageError("--limit %d must not be negative", f.limit)
	}
	if !slices.Contains(installPolicies, f.installPolicy) {
		return nil, usageError("--install-policy %q: want one of %s", f.installPolicy, strings.Join(installPolicies, ", "))
	}
	o := &startOptions{startFlags: *f, installPolicySet: cmd.Flags().Changed("install-policy"),
		stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr(), ctx: cmd.Context()}
	if o.noCreatePool {
		o.createPool = false
	}
	if o.noRunOnce {
		o.runOnce = false
	}
	if o.noHealthcheck {
		o.healthcheck = false
	}
	if o.emptyQueues {
		o.queues = nil
	}
	return o, nil
}

func runStart(f *startOptions, deps cmdDeps) error {
	settings, err := loadSettings(deps, f.profile)
	if err != nil {
		return usageError("Prefect settings: %v", err)
	}
	getenv := settings.getenv
	heartbeat, err := envSeconds(getenv, "PREFECT_WORKER_HEARTBEAT_SECONDS", worker.DefaultHeartbeatInterval)
	if err != nil {
		return err
	}
	query, err := envSeconds(getenv, "PREFECT_WORKER_QUERY_SECONDS", worker.DefaultQueryInterval)
	if err != nil {
		return err
	}
	prefetch, err := envSeconds(getenv, "PREFECT_WORKER_PREFETCH_SECONDS", worker.DefaultPrefetch)
	if err != nil {
		return err
	}
	disableCancel, cancelPoll, err := cancellation(getenv)
	if err != nil {
		return err
	}
	if f.heartbeatInterval > 0 {
		heartbeat = seconds(f.heartbeatInterval)
	}
	if f.pollingInterval > 0 {
		query = seconds(f.pollingInterval)
	}
	if f.prefetch >= 0 {
		// Prefect truncates prefetch seconds to an integer.
		prefetch = seconds(float64(int64(f.prefetch)))
	}
	if prefetch == 0 {
		prefetch = time.Nanosecond // "no prefetch": Config treats 0 as the default
	}

	logger, err := f.logs.logger(f.stderr, getenv, f.debug)
	if err != nil {
		return err
	}
	settings.log(logger)
	if f.installPolicySet {
		logger.Info("--install-policy is accepted and ignored: aciworker is one binary with its worker built in", "install_policy", f.installPolicy)
	}

	pcfg := prefect.ConfigFromEnv(getenv)
	if pcfg.APIURL == "" {
		return usageError("PREFECT_API_URL is not set in the environment, .env, prefect.toml or the active Prefect profile: point it at your Prefect server, e.g. http://127.0.0.1:4200/api")
	}
	pcfg.Logger = logger
	if f.metricsAddr == "" {
		f.metricsAddr = getenv("ACIWORKER_METRICS_ADDR")
	}
	if f.pprofAddr == "" {
		f.pprofAddr = getenv("ACIWORKER_PPROF_ADDR")
	}
	// Metrics exist only when served: counting final states costs a read
	// per run.
	var (
		m        *metrics.Metrics
		inFlight atomic.Pointer[worker.Worker]
	)
	if f.healthcheck || f.metricsAddr != "" {
		m = metrics.New(func() int {
			if w := inFlight.Load(); w != nil {
				return w.Unfinished()
			}
			return 0
		})
		pcfg.WrapTransport = m.WrapPrefectTransport
	}
	pf, err := prefect.New(pcfg)
	if err != nil {
		return usageError("Prefect settings: %v", err)
	}

	cfg := worker.Config{
		Pool:                 f.pool,
		Queues:               f.queues,
		Name:                 f.name,
		Limit:                f.limit,
		Prefetch:             prefetch,
		QueryInterval:        query,
		HeartbeatInterval:    heartbeat,
		RunOnce:              f.runOnce,
		CreatePoolIfNotFound: f.createPool,
		Prefect:              pf,
		Environ:              settings.environ(),
		Logger:               logger,
		Stdout:               f.stdout,
		Version:              buildinfo.Get().Version,
		DefaultImage:         strings.TrimSpace(getenv("ACIWORKER_DEFAULT_IMAGE")),
		DisableCancellation:  disableCancel,
		AdoptInterval:        cancelPoll,
		DefaultPython:        strings.TrimSpace(getenv("ACIWORKER_DEFAULT_PYTHON")),
	}
	if f.baseJobTemplate != "" {
		data, err := os.ReadFile(f.baseJobTemplate)
		if err != nil {
			return usageError("--base-job-template: %v", err)
		}
		if cfg.BaseJobTemplate, err = worker.ParseBaseJobTemplate(data); err != nil {
			return usageError("--base-job-template %s: %v", f.baseJobTemplate, err)
		}
	}
	if f.healthcheck {
		host := getenv("PREFECT_WORKER_WEBSERVER_HOST")
		if host == "" {
			host = "0.0.0.0"
		}
		port := getenv("PREFECT_WORKER_WEBSERVER_PORT")
		if port == "" {
			port = "8080"
		}
		cfg.HealthAddr = net.JoinHostPort(host, port)
	}
	if f.emulator {
		emu, err := startEmbeddedEmulator(deps)
		if err != nil {
			return fmt.Errorf("start the emulator: %w", err)
		}
		defer emu.close()
		cfg.Azure = emu.settings
		// Reconcile sweeps the emulator's resource group from the start.
		cfg.Environ = append(cfg.Environ, "AZURE_SUBSCRIPTION_ID="+emu.subscription, "AZURE_RESOURCE_GROUP="+emu.resourceGroup)
		logger.Info("using the in-process Azure emulator", "arm_endpoint", emu.settings.ARMEndpoint,
			"subscription_id", emu.subscription, "resource_group", emu.resourceGroup)
	} else {
		cfg.Azure = aci.SettingsFromEnv(getenv)
		cfg.Azure.Transport = deps.transport
		if err := cfg.Azure.Validate(); err != nil {
			return usageError("Azure settings: %v", err)
		}
	}
	if m != nil {
		cfg.Observer = m
		cfg.MetricsHandler = m.Handler()
		cfg.Azure.Policies = append(cfg.Azure.Policies, m.AzurePolicy())
	}
	w, err := worker.New(cfg)
	if err != nil {
		return usageError("%v", err)
	}
	inFlight.Store(w)
	parent := f.ctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := context.WithCancel(parent)
	defer stop()
	// The second signal's message is a record like every other line
	// (JSON with --log-format json), at ERROR: it exits without clean-up.
	stopSignals := deps.watchSignals(logging.NewLineWriter(logger, slog.LevelError, "aciworker: "), func(s os.Signal) {
		logger.Info("received "+s.String()+"; stopping (a second signal exits at once)", "runs_in_flight", w.InFlight())
		stop()
	}, func() string {
		return fmt.Sprintf("%d flow runs were in flight; a run being submitted may leave a container group or a deployment record behind. The next worker on the pool re-adopts runs in flight and its reconcile removes what finished runs left.", w.InFlight())
	})
	defer stopSignals()
	if f.metricsAddr != "" {
		addr, err := metrics.Serve(ctx, f.metricsAddr, m.Handler(), logger)
		if err != nil {
			return err
		}
		logger.Info("metrics serving", "addr", addr)
	}
	if f.pprofAddr != "" {
		addr, err := profiling.Serve(ctx, f.pprofAddr, logger)
		if err != nil {
			return err
		}
		logger.Info("profiles serving", "addr", addr)
	}
	go trimWhenIdle(ctx, w.FirstPoll(), w.InFlight, logger)
	return w.Run(ctx)
}

// trimWhenIdle keeps the idle worker's resident memory down (see
// trimIdle). What an idle worker has resident is mostly the executable's
// pages that its rounds touch (a poll, a heartbeat, an adoption or reconcile
// round): each touch maps its neighbours too, so a round leaves megabytes of
// code and read-only data mapped that the next round may not need. Measured
// on a static linux/amd64 build: 7.4 MB right after a trim, back to 13-15 MB
// within a minute of idle rounds. So while no run is in flight, the loop
// looks at the resident size every idleCheck and trims when it has grown by
// trimSlack since the last trim. A check is one read of /proc/self/statm; a
// trim is a forced collection and two madvise calls; the pages come back
// from the page cache when touched, without a disk read.
func trimWhenIdle(ctx context.Context, polled <-chan struct{}, inFlight func() int, logger *slog.Logger) {
	select {
	case <-polled:
	case <-ctx.Done():
		return
	}
	var floor int64
	known := false
	trim := func() {
		if err := trimIdle(); err != nil {
			logger.Debug("giving back idle memory failed", "err", err)
		}
		floor, known = residentBytes()
	}
	trim()
	if !known {
		return // the resident size cannot be read here: nothing to check
	}
	t := time.NewTicker(idleCheck)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		if rss, ok := residentBytes(); ok && shouldTrim(inFlight(), rss, floor) {
			trim()
		}
	}
}

const (
	idleCheck = 2 * time.Second
	trimSlack = 1 << 20
)

// shouldTrim says whether an idle check trims: only with no run in flight
// (a busy worker's pages are in use, and it is not idle), and only when the
// resident size grew by trimSlack since the last trim, so a quiet worker is
// not collected every check.
func shouldTrim(inFlight int, rss, floor int64) bool {
	return inFlight == 0 && rss-floor >= trimSlack
}
