package aci

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aciworker/aciworker/internal/backoff"
)

// RunOptions tune Run.
type RunOptions struct {
	Stdout io.Writer // the container's output; nil discards it
	Stderr io.Writer // progress; nil discards it
	Quiet  bool      // do not stream the container's output
	Keep   bool      // stop the group instead of deleting it
	// StartTimeout bounds deployment and container start (default 240 s,
	// prefect-azure's task_start_timeout_seconds).
	StartTimeout time.Duration
	// PollInterval paces group and log reads (default 5 s, prefect-azure's
	// task_watch_poll_interval).
	PollInterval time.Duration
	// CleanupTimeout bounds the clean-up (default 5 min).
	CleanupTimeout time.Duration
	Logger         *slog.Logger
	// BeforeCleanup, when set, runs once the run is over and before the
	// group and the deployment record are removed.
	BeforeCleanup func(ctx context.Context, p *Prepared)
}

// Defaults for Run.
const (
	DefaultStartTimeout   = 240 * time.Second
	DefaultCleanupTimeout = 5 * time.Minute
	// RunPrefix starts the names of run's groups and deployment records.
	RunPrefix = "aciworker-run-"
)

var (
	// ErrCanceled: the run's context ended (e.g. SIGINT or SIGTERM); the
	// group was cleaned up.
	ErrCanceled = errors.New("run canceled")
	// ErrStartTimeout: the container did not start in time; the group was
	// deleted.
	ErrStartTimeout = errors.New("container did not start in time")
	// ErrProvisioningFailed: Azure could not create or start the group; it
	// was deleted.
	ErrProvisioningFailed = errors.New("provisioning failed")
	// ErrCleanup: the group or the deployment record could not be removed.
	ErrCleanup = errors.New("clean-up failed")
	// ErrReported marks the error of a failed run that Run has already
	// written to RunOptions.Stderr, in the order a reader needs (the
	// cause, then the clean-up's messages, then any clean-up failure):
	// the caller need not print it again.
	ErrReported = errors.New("already reported")
)

// reportedError is an error Run wrote out; it reads as the error itself.
type reportedError struct{ error }

func (e reportedError) Unwrap() error        { return e.error }
func (e reportedError) Is(target error) bool { return target == ErrReported }

// NewRunGroupName returns "aciworker-run-" and 8 random hex digits.
func NewRunGroupName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return RunPrefix + hex.EncodeToString(b[:])
}

// RunDeploymentName names run's deployment record after its group, with the
// "aciworker-run-" prefix that marks run's records.
func RunDeploymentName(group string) string {
	if strings.HasPrefix(group, RunPrefix) {
		return group
	}
	return RunPrefix + group
}

// Run runs a job to completion, like prefect-azure's AzureContainerInstanceJob:
// it deploys the group, waits for the container to start, streams its
// output, and returns its exit code. The group is always cleaned up (deleted,
// or stopped with Keep unless it failed to provision) and so is the
// deployment record, also when ctx ends; then the error wraps ErrCanceled.
// Nothing Run prints or returns contains a secret of the job.
func Run(ctx context.Context, c *Client, rg string, job Job, opts RunOptions) (int, error) {
	if job.GroupName == "" {
		job.GroupName = NewRunGroupName()
	}
	if job.DeploymentName == "" {
		job.DeploymentName = RunDeploymentName(job.GroupName)
	}
	p, err := Prepare(job)
	if err != nil {
		return -1, err
	}
	r := &runner{c: c, rg: rg, p: p, lc: NewLifecycle(c, rg, p.GroupName, p.DeploymentName), opts: opts, red: NewRedactor(p.Secrets...)}
	r.init()
	code, err := r.run(ctx)
	return code, r.red.Error(err)
}

type runner struct {
	c    *Client
	rg   string
	p    *Prepared
	lc   *Lifecycle
	opts RunOptions
	red  *Redactor
	out  io.Writer
	errw io.Writer
	log  *slog.Logger

	provisioned bool // the group reached its container start
	failed      bool // provisioning failed: always delete
	seen        map[string]bool
	container   string
}

func (r *runner) init() {
	o := &r.opts
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.CleanupTimeout <= 0 {
		o.CleanupTimeout = DefaultCleanupTimeout
	}
	r.out = o.Stdout
	if r.out == nil {
		r.out = io.Discard
	}
	r.errw = io.Discard
	if o.Stderr != nil {
		r.errw = r.red.Writer(o.Stderr)
	}
	r.log = o.Logger
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.seen = map[string]bool{}
	r.container = r.p.ContainerName
}

func (r *runner) progress(format string, args ...any) {
	fmt.Fprintf(r.errw, "aciworker: "+format+"\n", args...)
}

func (r *runner) run(ctx context.Context) (code int, err error) {
	defer func() {
		// A failure is said before the clean-up it causes, and the
		// clean-up's own failure after its messages. A cancellation's
		// cause (a signal) was said by whoever cancelled.
		report := err != nil && ctx.Err() == nil && r.opts.Stderr != nil
		if report {
			r.progress("%v", r.red.Error(err))
		}
		if cerr := r.cleanup(ctx); cerr != nil {
			if report {
				r.progress("%v", r.red.Error(cerr))
			}
			err = errors.Join(err, cerr)
		}
		if ctx.Err() != nil && !errors.Is(err, ErrCanceled) {
			err = errors.Join(fmt.Errorf("%w: %w", ErrCanceled, context.Cause(ctx)), err)
		}
		if report {
			err = reportedError{err}
		}
	}()
	// The start timeout covers the deployment's submission too: an ARM
	// that takes the request and never answers is a start that failed.
	startCtx, cancel := context.WithTimeoutCause(ctx, r.opts.StartTimeout, ErrStartTimeout)
	defer cancel()
	timedOut := func() error {
		if ctx.Err() == nil && errors.Is(context.Cause(startCtx), ErrStartTimeout) {
			r.failed = true
			return fmt.Errorf("%w: container group %s did not start within %s", ErrStartTimeout, r.p.GroupName, r.opts.StartTimeout)
		}
		return nil
	}
	r.progress("submitting deployment %s for container group %s in resource group %s", r.p.DeploymentName, r.p.GroupName, r.rg)
	if err := r.lc.Deploy(startCtx, r.p); err != nil {
		if terr := timedOut(); terr != nil {
			return -1, terr
		}
		r.failed = true
		return -1, fmt.Errorf("deployment %s was rejected: %w", r.p.DeploymentName, err)
	}
	r.progress("deployment submitted; provisioning container group %s", r.p.GroupName)
	id := GroupResourceID(r.c.SubscriptionID(), r.rg, r.p.GroupName)
	r.progress("container group %s\n%s", id, FindHint(id))
	if err := r.waitStart(ctx, startCtx, timedOut); err != nil {
		return -1, err
	}
	return r.watch(ctx)
}

// waitStart waits until the container has started (or already ended), the
// deployment failed, an image pull failed, or startCtx (the start
// timeout) ended; timedOut tells the last apart.
func (r *runner) waitStart(ctx, startCtx context.Context, timedOut func() error) error {
	err := r.lc.WaitStarted(startCtx, r.opts.PollInterval, StartWatch{
		Group: r.reportEvents,
		ReadFailed: func(err error) {
			r.log.Warn("reading the container group failed; retrying", "group", r.p.GroupName, "err", r.red.String(err.Error()))
		},
	})
	var sf *StartFailure
	switch {
	case err == nil:
		r.provisioned = true
		return nil
	case errors.As(err, &sf):
		r.failed = true
		// Not printed here: run says it once, before the clean-up.
		switch sf.Stage {
		case "pull":
			return fmt.Errorf("%w: container group %s failed to start: %s", ErrProvisioningFailed, r.p.GroupName, sf.Reason)
		case "provision":
			return fmt.Errorf("%w: container group %s failed to provision: %s", ErrProvisioningFailed, r.p.GroupName, sf.Reason)
		default:
			return fmt.Errorf("%w: deployment %s %s: %s", ErrProvisioningFailed, r.p.DeploymentName, strings.ToLower(sf.State), sf.Reason)
		}
	}
	if terr := timedOut(); terr != nil {
		return terr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// reportEvents prints each new kind of container event once, so the user
// sees pulls and starts as they happen.
func (r *runner) reportEvents(g *Group) {
	if len(g.Containers) == 0 {
		return
	}
	c := g.Containers[0]
	if r.container == "" {
		r.container = c.Name
	}
	for _, e := range c.Events {
		key := strings.ToLower(e.Name)
		if r.seen[key] {
			continue
		}
		msg := e.Message
		switch key {
		case "pulling":
			if msg == "" {
				msg = "pulling image"
			}
		case "pulled":
			msg = "image pulled"
		case "started":
			msg = "container started"
		default:
			continue
		}
		r.progress("%s", msg)
		r.seen[key] = true
	}
	if c.Current != nil && strings.EqualFold(c.Current.State, stateRunning) && !r.seen["running"] {
		r.seen["running"] = true
		r.progress("container %s is running", c.Name)
	}
}

// watch streams the output until the container terminates and returns its
// exit code.
func (r *runner) watch(ctx context.Context) (int, error) {
	var follower LogFollower
	for {
		g, err := r.c.GetGroup(ctx, r.rg, r.p.GroupName)
		if errors.Is(err, ErrNotFound) {
			return -1, fmt.Errorf("container group %s disappeared while running (deleted outside aciworker?)", r.p.GroupName)
		}
		if err != nil {
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			return -1, fmt.Errorf("watch container group %s: %w", r.p.GroupName, err)
		}
		r.reportEvents(g)
		if code, done := g.Outcome(); done {
			r.finalLogs(ctx, &follower)
			if code == 0 {
				r.progress("container terminated with exit code 0")
			} else if why := g.FailureReason(); why != "" {
				r.progress("container terminated with exit code %d: %s", code, why)
			} else {
				r.progress("container terminated with exit code %d", code)
			}
			return int(code), nil
		}
		if !r.opts.Quiet && r.container != "" {
			if content, err := r.c.Logs(ctx, r.rg, r.p.GroupName, r.container); err == nil {
				r.write(follower.Feed(content))
			} else if ctx.Err() == nil {
				// Azure's log endpoint fails under load; the next read
				// catches up, as nothing is lost from the full log.
				r.log.Debug("reading logs failed", "group", r.p.GroupName, "err", r.red.String(err.Error()))
			}
		}
		if r.lc.Deployed() == nil {
			_, _, _ = r.lc.PollDeployment(ctx) // for the clean-up: a deployment over needs no wait
		}
		if err := backoff.Sleep(ctx, r.c.clock, r.opts.PollInterval); err != nil {
			return -1, err
		}
	}
}

func (r *runner) finalLogs(ctx context.Context, f *LogFollower) {
	if r.opts.Quiet || r.container == "" {
		return
	}
	var lastErr error
	for attempt := range 3 {
		content, err := r.c.Logs(ctx, r.rg, r.p.GroupName, r.container)
		if err == nil {
			r.write(f.Finish(content))
			if f.Gaps() > 0 {
				r.progress("warning: Azure's log window dropped output between reads; some lines may be missing")
			}
			return
		}
		lastErr = err
		if ctx.Err() != nil || backoff.Sleep(ctx, r.c.clock, time.Duration(attempt+1)*r.opts.PollInterval/2) != nil {
			break
		}
	}
	r.progress("warning: could not read the container's final output: %v", lastErr)
}

func (r *runner) write(lines []LogLine) {
	if len(lines) == 0 {
		return
	}
	w := bufio.NewWriterSize(r.out, 64<<10)
	for _, l := range lines {
		w.WriteString(l.Text)
		if !l.Partial {
			w.WriteByte('\n')
		}
	}
	w.Flush()
}

// cleanup removes the group (or stops it) and then the deployment record,
// with a context of its own so that it also runs after cancellation.
func (r *runner) cleanup(parent context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), r.opts.CleanupTimeout)
	defer cancel()
	if r.opts.BeforeCleanup != nil {
		r.opts.BeforeCleanup(ctx, r.p)
	}
	var errs []error
	if r.opts.Keep && !r.failed {
		err := r.lc.RemoveGroup(ctx, Stop)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			errs = append(errs, err)
		default:
			r.progress("stopped container group %s (kept)", r.p.GroupName)
		}
	} else if err := r.lc.RemoveGroup(ctx, Delete); err != nil {
		errs = append(errs, err)
	} else {
		r.progress("deleted container group %s", r.p.GroupName)
	}
	if len(errs) > 0 && errors.Is(errs[0], ErrNoAnswer) {
		// Azure takes requests and does not answer: every further step
		// would wait as long for nothing. Say what may be left instead.
		return fmt.Errorf("%w: %w\n%s", ErrCleanup, errs[0], r.LeftBehind())
	}
	if err := r.lc.DeleteRecord(ctx, true); err != nil {
		errs = append(errs, err)
	} else {
		r.progress("deleted deployment record %s", r.p.DeploymentName)
	}
	if len(errs) > 0 {
		// Not printed here: run says it after the cause of the run's end.
		return fmt.Errorf("%w: %w", ErrCleanup, errors.Join(errs...))
	}
	return nil
}

// LeftBehind says what a run that stopped before its clean-up may leave in
// Azure, and how to remove it.
func (r *runner) LeftBehind() string {
	return LeftBehind(r.rg, r.p.GroupName, r.p.DeploymentName)
}

// LeftBehind says that a container group and its deployment record may be
// left in a resource group, and how to remove them.
func LeftBehind(rg, group, deployment string) string {
	return fmt.Sprintf("container group %s and deployment record %s in resource group %s may be left behind; remove them with: az container delete --yes --resource-group %s --name %s; az deployment group delete --resource-group %s --name %s",
		group, deployment, rg, rg, group, rg, deployment)
}
