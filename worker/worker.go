package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/internal/backoff"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/prefectaci"
)

// Worker is a Prefect worker for Azure Container Instances. Its state lives
// in Prefect and Azure: a worker that stops (or is killed) leaves its runs'
// containers running, and a worker started again on the pool re-adopts
// them (see adopt.go).
type Worker struct {
	cfg   Config
	pf    *prefect.Client
	log   *slog.Logger
	red   *aci.Redactor // the worker's own secrets
	reds  sync.Map      // flow run id -> *aci.Redactor of a run in flight
	azure *azureClients
	logs  *logShipper
	// events delivers prefect.worker.* events in the background.
	events *eventSink
	watch  *watcher
	// current reads claimed runs' records for many submissions at once.
	current *runBatcher

	baseEnv    map[string]string
	environ    map[string]string
	ownSecrets []string // the worker's own credentials: never printed, never readable by a deployment
	// azureSecrets are the worker's Azure credentials by variable name.
	azureSecrets map[string]string

	// store owns the runs in flight in this process.
	store *store

	mu       sync.Mutex
	pool     *prefect.WorkPool
	template map[string]any
	synced   chan struct{}
	syncOnce sync.Once
	id       identity

	lastPoll    atomic.Int64  // unix nanoseconds of the last answered poll (or the start)
	polled      chan struct{} // closed by the first poll Prefect answered
	queried     chan struct{} // closed when the first query for scheduled runs has ended, answered or not
	beat        chan struct{} // closed when the first heartbeat has ended, answered or not
	versionRead chan struct{} // closed when the read of the server's version has ended
	pollWake    chan struct{} // an event says runs may be due: poll soon (one pending at most)
	pollOnce1   sync.Once
	queriedOnce sync.Once
	runs        sync.WaitGroup
	typeWarned  atomic.Bool
}

// New checks the configuration and builds a worker; it contacts nothing.
func New(cfg Config) (*Worker, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	w := &Worker{
		cfg:         cfg,
		pf:          cfg.Prefect,
		baseEnv:     baseEnvironment(cfg.Environ),
		environ:     map[string]string{},
		store:       newStore(cfg.Limit),
		synced:      make(chan struct{}),
		polled:      make(chan struct{}),
		queried:     make(chan struct{}),
		beat:        make(chan struct{}),
		versionRead: make(chan struct{}),
		pollWake:    make(chan struct{}, 1),
	}
	for _, kv := range cfg.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			w.environ[k] = v
		}
	}
	w.ownSecrets = workerSecrets(w.environ)
	w.azureSecrets = map[string]string{}
	for _, k := range azureCredentialEnv {
		if v := w.environ[k]; v != "" {
			w.azureSecrets[k] = v
		}
	}
	if cfg.Azure.ClientSecret != "" {
		w.azureSecrets["AZURE_CLIENT_SECRET"] = cfg.Azure.ClientSecret
	}
	if cfg.Azure.ClientSecret != "" {
		w.ownSecrets = append(w.ownSecrets, cfg.Azure.ClientSecret)
	}
	w.red = aci.NewRedactor(w.ownSecrets...)
	w.log = slog.New(redactHandler{next: cfg.Logger.Handler(), d: w.red, forRun: w.redactorFor}).With("worker", cfg.Name)
	w.azure = newAzureClients(cfg.Azure, w.log)
	w.logs = newLogShipper(w.pf, w.log, w.cfg.Clock)
	w.events = newEventSink(w.pf.EmitEvents, w.log)
	w.watch = newWatcher(w)
	w.current = newRunBatcher(w.pf, w.retryTransient)
	if cfg.BaseJobTemplate == nil {
		t, err := DefaultBaseJobTemplate()
		if err != nil {
			return nil, err
		}
		w.cfg.BaseJobTemplate = t
	}
	return w, nil
}

// DefaultBaseJobTemplate is the stock ACI base job template, decoded with
// json.Number.
func DefaultBaseJobTemplate() (map[string]any, error) {
	return decodeJSONObject(prefectaci.DefaultBaseJobTemplate())
}

func decodeJSONObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// workerSecrets are the worker's own credentials, never to be printed nor
// read by a deployment: every variable of its environment that the secret
// rule marks secret (Prefect's and Azure's credentials, names ending in
// _TOKEN, _PASSWORD, ..., URLs with userinfo), and each custom header.
func workerSecrets(env map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		v := env[k]
		if v != "" && (secretName(k) || secretValue(v) || slices.Contains(azureCredentialEnv, k)) {
			out = append(out, v)
		}
	}
	if h := env["PREFECT_CLIENT_CUSTOM_HEADERS"]; h != "" {
		var m map[string]string
		if json.Unmarshal([]byte(h), &m) == nil {
			for _, v := range m {
				out = append(out, v)
			}
		}
	}
	return out
}

// Name is the worker's name in Prefect.
func (w *Worker) Name() string { return w.cfg.Name }

// FirstPoll is closed once the worker has synced with its pool and Prefect
// has answered its first query for scheduled runs: from then on it picks
// up work.
func (w *Worker) FirstPoll() <-chan struct{} { return w.polled }

// Run runs the worker until ctx ends (or, with RunOnce, until the runs of
// one poll are done). On ctx's end it stops polling and returns without
// touching runs in flight: their containers keep running and a worker
// started later re-adopts them. Only a configuration the server refuses
// (e.g. bad credentials) is an error; transient failures are retried.
func (w *Worker) Run(ctx context.Context) error {
	logCtx, stopLogs := context.WithCancel(context.WithoutCancel(ctx))
	go w.logs.run(logCtx)
	defer func() {
		stopLogs()
		<-w.logs.done
	}()
	go w.events.run()
	defer w.events.close()
	w.log.Info("worker starting", "pool", w.cfg.Pool, "type", w.cfg.Type, "limit", w.cfg.Limit)
	w.lastPoll.Store(w.now().UnixNano())
	// Beside the pool's read, off the start-up's path to its first poll:
	// the server's version (only the started event and a run's default
	// image need it) and the CSRF token the heartbeat would otherwise
	// fetch first.
	sideCtx, stopSide := context.WithCancel(ctx)
	var side sync.WaitGroup
	side.Add(2)
	go func() { defer side.Done(); defer close(w.versionRead); w.readServerVersion(sideCtx) }()
	go func() { defer side.Done(); w.prepareWrites(sideCtx) }()
	defer func() { stopSide(); side.Wait() }()
	if err := w.firstSync(ctx); err != nil {
		return err
	}
	if ctx.Err() == nil {
		// The first heartbeat goes once the first query for scheduled runs
		// is answered, not before it as in Prefect's worker: the server
		// answers the query sooner alone. A run waits for the heartbeat
		// before its claim (registered), so the worker is still known to
		// Prefect, and on Prefect Cloud knows its id, before it claims.
		side.Add(1)
		go func() {
			defer side.Done()
			defer close(w.beat)
			select {
			case <-w.queried:
			case <-sideCtx.Done():
				return
			}
			if err := w.heartbeat(sideCtx); err != nil && sideCtx.Err() == nil {
				w.log.Warn("heartbeat failed", "err", err)
			}
		}()
		started := make(chan struct{})
		go func() { defer close(started); <-w.versionRead; w.emitStarted() }()
		defer func() { <-started; w.emitStopped() }()
	}
	var loops sync.WaitGroup
	loop := func(f func(context.Context)) {
		loops.Add(1)
		go func() { defer loops.Done(); f(ctx) }()
	}
	if w.cfg.HealthAddr != "" {
		// Served until Run returns, ctx ended or not (RunOnce).
		healthCtx, stopHealth := context.WithCancel(ctx)
		defer stopHealth()
		if err := w.serveHealth(healthCtx); err != nil {
			return err
		}
	}
	// The watcher outlives ctx until the runs are done: a stopping worker
	// still finishes the runs that are already final (finishOnStop).
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); w.watch.loop(watchCtx) }()
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		// The stream is only a hint (the loops' intervals are the bound):
		// it connects after the first query for scheduled runs, which it
		// would delay.
		select {
		case <-w.queried:
			w.followEvents(watchCtx)
		case <-watchCtx.Done():
		}
	}()
	defer func() { stopWatch(); <-watchDone; <-streamDone }()
	if w.cfg.RunOnce {
		w.adoptOnce(ctx)
		w.pollOnce(ctx)
		w.runs.Wait()
		ctxDone := ctx.Err() != nil
		w.watch.stop()
		loops.Wait()
		if ctxDone {
			w.log.Info("worker stopped; runs in flight keep running and will be re-adopted")
		}
		return nil
	}
	loop(w.syncLoop)
	loop(w.pollLoop)
	// Adoption and reconcile wait for the first query for scheduled runs
	// to end, so that it does not queue behind their reads at the server.
	afterFirstPoll := func(f func(context.Context)) func(context.Context) {
		return func(ctx context.Context) {
			select {
			case <-w.queried:
				f(ctx)
			case <-ctx.Done():
			}
		}
	}
	loop(afterFirstPoll(w.adoptLoop))
	loop(afterFirstPoll(w.reconcileLoop))
	<-ctx.Done()
	loops.Wait()
	w.runs.Wait()
	w.log.Info("worker stopped; runs in flight keep running and will be re-adopted by the next worker on the pool")
	return nil
}

// loopJitter is Prefect's 30 % jitter on the intervals of its loops.
const loopJitter = 0.3

// every runs f every interval (with Prefect's 30 % jitter) until ctx ends;
// a failing f backs off up to 4 intervals, as Prefect's service loops do.
func (w *Worker) every(ctx context.Context, interval time.Duration, immediately bool, f func(context.Context) error) {
	w.everyOrWoken(ctx, interval, immediately, nil, f)
}

// wakeSettle is how long a woken loop waits before it runs: the events of
// a burst (a pool resumed, runs created one by one) then cost one run of
// f, not one each.
const wakeSettle = 200 * time.Millisecond

// minWokenGap is the least time from one run of f to a run brought forward
// by a wake, so that a stream of events cannot make a loop spin.
const minWokenGap = time.Second

// everyOrWoken is every, with f also run soon after a wake: the interval
// stays the bound when no wake comes (the event stream is down, or quiet),
// and the next interval counts from the woken run. A loop whose f fails
// backs off and does not listen to wakes meanwhile, so that a server in
// trouble is not asked more often.
func (w *Worker) everyOrWoken(ctx context.Context, interval time.Duration, immediately bool, wake <-chan struct{}, f func(context.Context) error) {
	failures := 0
	if !immediately {
		if !w.sleep(ctx, jitter(interval)) {
			return
		}
	}
	for ctx.Err() == nil {
		began := w.now()
		if err := f(ctx); err != nil {
			failures++
		} else {
			failures = 0
		}
		d := jitter(interval)
		listen := wake
		if failures > 0 {
			d = min(d*time.Duration(1<<min(failures, 2)), 4*interval)
			listen = nil
		}
		if !w.sleepOrWake(ctx, d, listen, began) {
			return
		}
	}
}

// sleepOrWake waits d, or a wake and then wakeSettle (longer if the last
// run, which began at began, was less than minWokenGap ago), on the
// worker's clock; false means ctx ended first. Wakes that come during the
// settle are served by the same run.
func (w *Worker) sleepOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}, began time.Time) bool {
	t := w.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	case <-wake:
	}
	if !w.sleep(ctx, max(wakeSettle, minWokenGap-w.now().Sub(began))) {
		return false
	}
	select {
	case <-wake:
	default:
	}
	return true
}

func jitter(d time.Duration) time.Duration {
	return backoff.Policy{Initial: d, Jitter: loopJitter}.Delay(0)
}

// sleep waits d on the worker's clock; false means ctx ended first.
func (w *Worker) sleep(ctx context.Context, d time.Duration) bool {
	return backoff.Sleep(ctx, w.cfg.Clock, d) == nil
}

// now is the worker's clock: every time-based rule reads it, so tests move
// time instead of waiting for it.
func (w *Worker) now() time.Time { return w.cfg.Clock.Now() }

// fatal reports errors that retrying will not fix: the server refuses the
// worker's credentials or its requests.
func fatal(err error) bool {
	var ae *prefect.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.StatusCode {
	case 401, 403:
		return true
	}
	return false
}

func (w *Worker) firstSync(ctx context.Context) error {
	delay := time.Second
	for {
		err := w.syncPool(ctx)
		if err == nil {
			return nil
		}
		if fatal(err) {
			return fmt.Errorf("work pool %q: %w", w.cfg.Pool, w.red.Error(err))
		}
		if errors.Is(err, prefect.ErrNotFound) && !w.cfg.CreatePoolIfNotFound {
			// Prefect's worker would idle without a pool; a pool managed
			// elsewhere (Terraform, the Helm chart's init step) that is
			// missing is a deployment mistake better reported at once.
			return fmt.Errorf("work pool %q not found, and creating it is disabled (--no-create-pool-if-not-found)", w.cfg.Pool)
		}
		if !w.sleep(ctx, delay) {
			return nil
		}
		delay = min(2*delay, w.cfg.HeartbeatInterval)
	}
}

// runLog writes a worker message to a flow run's logs in Prefect and to the
// worker's own log.
func (w *Worker) runLog(runID string, level int, msg string) {
	msg = w.redactorFor(runID).String(msg)
	w.logs.add(runID, level, msg)
	sl := slog.LevelInfo
	switch {
	case level >= prefect.LevelError:
		sl = slog.LevelError
	case level >= prefect.LevelWarning:
		sl = slog.LevelWarn
	case level < prefect.LevelInfo:
		sl = slog.LevelDebug
	}
	w.log.Log(context.Background(), sl, msg, "flow_run_id", runID)
}

// runDone is the bookkeeping of a run's end in this process, submitted or
// adopted, called by the run's goroutine as it returns: the store drops it
// (and its slot), and its use of its Azure target and its redactor go.
func (w *Worker) runDone(r *run) {
	w.store.drop(r, w.now())
	if r.tgt != nil {
		w.azure.release(r.tgt)
	}
	w.reds.Delete(r.id)
}

// InFlight is the number of runs the worker is submitting or watching.
func (w *Worker) InFlight() int {
	n, _ := w.store.count()
	return n
}

func (w *Worker) poolSnapshot() (*prefect.WorkPool, map[string]any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pool, w.template
}

// ParseBaseJobTemplate decodes a base job template (--base-job-template)
// and checks its two sections.
func ParseBaseJobTemplate(data []byte) (map[string]any, error) {
	m, err := decodeJSONObject(data)
	if err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	for _, k := range []string{"job_configuration", "variables"} {
		if _, ok := m[k].(map[string]any); !ok {
			return nil, fmt.Errorf("the template has no %q object", k)
		}
	}
	return m, nil
}
