package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/prefect"
)

// tailLines is how much container output a crashed run gets in its logs.
const tailLines = 50

// cleanupTimeout bounds the removal of a run's group and deployment record.
const cleanupTimeout = 5 * time.Minute

// finish reports how a watched run ended and removes its infrastructure.
func (w *Worker) finish(ctx context.Context, r *run, o outcome) {
	w.stopStreaming(r, o.kind == outExited)
	if o.kind == outSubmitFailed {
		// Reported as a submission that failed, as when provisioning was
		// waited for in submission: Crashed with the reason, group gone.
		w.submissionFailed(ctx, r, o.err)
		return
	}
	switch o.kind {
	case outExited:
		w.emitExecuted(r, int(o.code))
	case outVanished, outCancelled, outAbandoned:
		// The container ended without an exit code the worker saw, which
		// prefect-azure reports as status code -1.
		w.emitExecuted(r, -1)
	}
	switch o.kind {
	case outExited:
		if o.code != 0 {
			msg := crashMessage(int64(o.code), o.group.FailureReason())
			if w.proposeCrashed(ctx, r.id, msg) {
				w.attachTail(ctx, r)
				if res := explainExit(int64(o.code)).Resolution; res != "" {
					w.runLog(r.id, prefect.LevelInfo, res)
				}
			}
		}
	case outVanished:
		msg := crashMessage(-1, fmt.Sprintf("container group %s in resource group %s no longer exists: it was deleted before the flow run finished.", r.group, r.tgt.rg))
		w.runLog(r.id, prefect.LevelError, fmt.Sprintf("Container group %s was deleted before flow run '%s' completed.", r.group, r.fr.Name))
		w.proposeCrashed(ctx, r.id, msg)
	case outAbandoned:
		w.runLog(r.id, prefect.LevelWarning, fmt.Sprintf("The flow run is final but its container kept running for %s; removing container group %s.", terminalGrace, r.group))
	case outProvisionFailed:
		reason := o.group.FailureReason()
		if reason == "" {
			reason = "Azure gave no reason"
		}
		w.proposeCrashed(ctx, r.id, fmt.Sprintf("Failed to submit flow run to infrastructure: container group %s failed to provision: %s", r.group, reason))
	}
	switch o.kind {
	case outCancelled, outVanished:
		// kill has removed the group already, or it is gone: one delete
		// (or stop) per run, and only the deployment record is left.
		w.cleanup(ctx, r, groupGone)
	case outProvisionFailed:
		w.cleanup(ctx, r, groupDelete) // failed groups go, kept or not
	default:
		w.cleanup(ctx, r, groupRemove)
	}
}

// groupStep is what cleanup does with a run's container group.
type groupStep int

const (
	groupRemove groupStep = iota // stop it when kept, else delete it
	groupDelete                  // delete it, kept or not
	groupGone                    // nothing: it was removed already
)

// attachTail puts the last lines of the container's output into the flow
// run's logs, so that the Prefect UI shows why it crashed.
func (w *Worker) attachTail(ctx context.Context, r *run) {
	container := r.containerName()
	if container == "" {
		return
	}
	content, err := r.tgt.client.Logs(ctx, r.tgt.rg, r.group, container)
	if err != nil {
		w.log.Warn("reading the container's output failed", "flow_run_id", r.id, "err", err)
		return
	}
	var f aci.LogFollower
	lines := f.Finish(content)
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	if len(lines) == 0 {
		w.runLog(r.id, prefect.LevelError, fmt.Sprintf("Container %s wrote no output.", container))
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Last %d lines of the output of container %s:", len(lines), container)
	for _, l := range lines {
		b.WriteString("\n")
		b.WriteString(l.Text)
	}
	w.runLog(r.id, prefect.LevelError, b.String())
}

// cleanup stops (keep_container_group) or deletes the group as step says,
// then deletes the deployment record so that no template history is left.
// A failure is logged; the reconcile loop retries.
func (w *Worker) cleanup(parent context.Context, r *run, step groupStep) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), cleanupTimeout)
	defer cancel()
	c, rg := r.tgt.client, r.tgt.rg
	switch {
	case step == groupGone:
	case step == groupRemove && r.cfg != nil && r.cfg.KeepGroup:
		if err := c.StopGroup(ctx, rg, r.group); err != nil && !errors.Is(err, aci.ErrNotFound) {
			w.log.Warn("stopping the container group failed; reconcile will retry", "flow_run_id", r.id, "group", r.group, "err", err)
		} else {
			w.log.Info("stopped container group (kept)", "flow_run_id", r.id, "group", r.group)
		}
	default:
		if err := c.RequestGroupDelete(ctx, rg, r.group); err != nil {
			w.log.Warn("deleting the container group failed; reconcile will retry", "flow_run_id", r.id, "group", r.group, "err", err)
		} else {
			w.log.Info("deleted container group", "flow_run_id", r.id, "group", r.group)
		}
	}
	if err := w.deleteDeploymentRecord(ctx, c, rg, r.deploymentName()); err != nil {
		w.log.Warn("deleting the deployment record failed; reconcile will retry", "flow_run_id", r.id, "deployment", r.deploymentName(), "err", err)
	}
}

// deleteDeploymentRecord deletes a deployment record once it is over.
// Neither this delete nor the group's is followed to its end: each would
// cost reads per run, and a record or group whose deletion fails later is
// one the reconcile loop finds (its run is final) and removes. ARM refuses
// to delete a running deployment, so one that will not end is cancelled
// first; only then is it worth reading.
func (w *Worker) deleteDeploymentRecord(ctx context.Context, c *aci.Client, rg, name string) error {
	err := c.RequestDeploymentDelete(ctx, rg, name)
	if !aci.IsConflict(err) {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = c.WaitDeployment(wctx, rg, name)
	cancel()
	if err != nil && !errors.Is(err, aci.ErrNotFound) {
		if cerr := c.CancelDeployment(ctx, rg, name); cerr != nil {
			return cerr
		}
		if _, err := c.WaitDeployment(ctx, rg, name); err != nil && !errors.Is(err, aci.ErrNotFound) {
			return err
		}
	}
	return c.RequestDeploymentDelete(ctx, rg, name)
}

// stdoutMu keeps lines of different runs' output from interleaving.
var stdoutMu sync.Mutex

// startStreaming copies a run's container output to the worker's stdout
// (stream_output), reading the log at the run's poll interval.
func (w *Worker) startStreaming(ctx context.Context, r *run) {
	r.logFinal = make(chan bool)
	r.logDone = make(chan struct{})
	go func() {
		defer close(r.logDone)
		var f aci.LogFollower
		write := func(lines []aci.LogLine) {
			if len(lines) == 0 {
				return
			}
			var b strings.Builder
			for _, l := range lines {
				b.WriteString(l.Text)
				if !l.Partial {
					b.WriteByte('\n')
				}
			}
			stdoutMu.Lock()
			fmt.Fprint(w.cfg.Stdout, w.redactorFor(r.id).String(b.String()))
			stdoutMu.Unlock()
		}
		final := false
		for {
			if container := r.containerName(); container != "" {
				content, err := r.tgt.client.Logs(ctx, r.tgt.rg, r.group, container)
				if err == nil {
					if final {
						write(f.Finish(content))
					} else {
						write(f.Feed(content))
					}
				}
			}
			if final {
				return
			}
			select {
			case <-ctx.Done():
				return
			case fin, ok := <-r.logFinal:
				if !ok || !fin {
					return
				}
				final = true
			case <-time.After(r.cfg.PollInterval):
			}
		}
	}()
}

func (w *Worker) stopStreaming(r *run, final bool) {
	if r.logDone == nil {
		return
	}
	select {
	case r.logFinal <- final:
	case <-r.logDone:
	}
	<-r.logDone
}
