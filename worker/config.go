package worker

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/internal/backoff"
	"github.com/aciworker/aciworker/prefect"
)

// Type is the worker type this worker implements, as Prefect names it.
const Type = "azure-container-instance"

// Defaults of Prefect's worker settings (PREFECT_WORKER_*).
const (
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultQueryInterval     = 10 * time.Second
	DefaultPrefetch          = 10 * time.Second
	DefaultWatchInterval     = 5 * time.Second
	DefaultReconcileInterval = 60 * time.Second
	DefaultCancelGrace       = 30 * time.Second
	DefaultOrphanAfter       = 2 * time.Minute
	// DefaultBackgroundShare is the part of the subscription's read budget
	// spent on routine container-group reads; the rest stays for what the
	// watcher learns is news, provisioning, logs and clean-up.
	DefaultBackgroundShare = 0.5
	// DefaultCheckFirst and DefaultCheckMaxGap pace the reads of a running
	// run's group for a death nothing else reports (checkSchedule): the
	// first 90 s after its start, so that a run shorter than that costs no
	// such read, then gaps as long as its age, at most 5 minutes.
	DefaultCheckFirst  = 90 * time.Second
	DefaultCheckMaxGap = 5 * time.Minute
)

// Config configures a worker. Zero values take the defaults noted.
type Config struct {
	Pool   string   // required
	Queues []string // empty: every queue of the pool
	// Name defaults to "AzureContainerWorker <uuid4>", as prefect-azure's.
	Name string
	Type string // default "azure-container-instance"
	// Limit bounds flow runs in flight (0: unlimited); a slot is held for a
	// run's whole life, until its container group is cleaned up.
	Limit             int
	Prefetch          time.Duration // scheduled_before = now + Prefetch
	QueryInterval     time.Duration // poll for scheduled runs
	HeartbeatInterval time.Duration // pool sync and heartbeat
	RunOnce           bool          // poll once, run what it got, return when done
	// CreatePoolIfNotFound creates a missing pool (Prefect's CLI default).
	CreatePoolIfNotFound bool
	// BaseJobTemplate is the template of a pool this worker creates or
	// finds empty; nil means the stock ACI template.
	BaseJobTemplate map[string]any

	Prefect *prefect.Client // required
	// Azure says where Azure is and the worker's own credentials (the
	// credential chain used when a pool has no aci_credentials block).
	Azure aci.Settings
	// Environ is the worker's environment: its PREFECT_* settings reach every
	// container, and {{ $VAR }} placeholders read it. nil: none.
	Environ []string

	// WatchInterval paces the shared watch of in-flight runs.
	WatchInterval time.Duration
	// ReconcileInterval paces the clean-up of leftovers and the search for
	// runs to re-adopt.
	ReconcileInterval time.Duration
	// AdoptInterval paces the search for runs of this pool that nobody
	// watches (after a restart) and Cancelling runs; default QueryInterval
	// (PREFECT_WORKER_CANCELLATION_POLL_SECONDS sets it).
	AdoptInterval time.Duration
	// DisableCancellation leaves Cancelling runs to their own engine: the
	// worker does not remove their container groups
	// (PREFECT_WORKER_ENABLE_CANCELLATION=false).
	DisableCancellation bool
	// CancelGrace is how long a Cancelling run's own engine gets to stop
	// before the worker removes its container group.
	CancelGrace time.Duration
	// OrphanAfter is how long a run may stay Pending with no owner label
	// and no container before another worker takes it as orphaned (its
	// worker died right after claiming it) and schedules it again.
	OrphanAfter time.Duration
	// BackgroundShare is the fraction of the read budget for routine reads.
	BackgroundShare float64
	// CheckFirst and CheckMaxGap pace the reads of a run's group for a
	// death nothing else reports (a container killed for memory, a lost
	// node: its engine never reports to Prefect, and ARM's list of groups
	// carries no instance view): the first CheckFirst after the run's start
	// (sooner while its flow has not reported Running), then each after a
	// gap as long as the run's age, at most CheckMaxGap.
	CheckFirst  time.Duration
	CheckMaxGap time.Duration

	// HealthAddr, when set, serves GET /health there (--with-healthcheck).
	HealthAddr string
	// MetricsHandler, when set, is served at GET /metrics beside /health.
	MetricsHandler http.Handler
	// Observer hears submissions, final states, watch rounds and
	// reconcile passes, for metrics; nil hears nothing.
	Observer Observer

	// Clock is the time of every time-based rule and wait (OrphanAfter,
	// CancelGrace, grace periods, retries); nil is the system clock. It
	// also paces the Azure client when Azure.Clock is unset.
	Clock backoff.Clock

	// DefaultImage replaces the image chosen for runs whose deployment
	// sets none (ACIWORKER_DEFAULT_IMAGE); DefaultPython is that image's
	// Python otherwise (ACIWORKER_DEFAULT_PYTHON, default DefaultPython).
	DefaultImage  string
	DefaultPython string

	// Version is aciworker's own version, reported in heartbeat metadata
	// and on events.
	Version string

	Logger *slog.Logger // worker log; nil discards
	Stdout io.Writer    // container output of runs with stream_output; nil discards
}

func (c *Config) setDefaults() error {
	if strings.TrimSpace(c.Pool) == "" {
		return fmt.Errorf("work pool name is required")
	}
	if c.Prefect == nil {
		return fmt.Errorf("a Prefect client is required")
	}
	if c.Name == "" {
		c.Name = "AzureContainerWorker " + uuid.NewString()
	}
	if strings.ContainsAny(c.Name, "/%") {
		return fmt.Errorf("worker name %q cannot contain '/' or '%%'", c.Name)
	}
	if c.Type == "" {
		c.Type = Type
	}
	if c.Limit < 0 {
		return fmt.Errorf("limit %d must not be negative", c.Limit)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Prefetch < 0 {
		c.Prefetch = 0
	} else if c.Prefetch == 0 {
		c.Prefetch = DefaultPrefetch
	}
	def(&c.QueryInterval, DefaultQueryInterval)
	def(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&c.WatchInterval, DefaultWatchInterval)
	def(&c.ReconcileInterval, DefaultReconcileInterval)
	def(&c.AdoptInterval, c.QueryInterval)
	def(&c.CancelGrace, DefaultCancelGrace)
	def(&c.OrphanAfter, DefaultOrphanAfter)
	def(&c.CheckFirst, DefaultCheckFirst)
	def(&c.CheckMaxGap, DefaultCheckMaxGap)
	if c.BackgroundShare <= 0 || c.BackgroundShare > 1 {
		c.BackgroundShare = DefaultBackgroundShare
	}
	c.Clock = backoff.Or(c.Clock)
	if c.Azure.Clock == nil {
		c.Azure.Clock = c.Clock
	}
	if c.DefaultPython != "" && !pythonMinor.MatchString(c.DefaultPython) {
		return fmt.Errorf("DefaultPython (ACIWORKER_DEFAULT_PYTHON) %q: want a minor version such as %s", c.DefaultPython, DefaultPython)
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	return nil
}
