package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	container := r.container
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
	// Neither deletion is followed to its end: each would cost reads per
	// run, and a group or record whose deletion fails later is one the
	// reconcile loop finds (its run is final) and removes.
	lc := r.lifecycle()
	switch {
	case step == groupGone:
	case step == groupRemove && r.cfg != nil && r.cfg.KeepGroup:
		if err := lc.RemoveGroup(ctx, aci.Stop); err != nil && !errors.Is(err, aci.ErrNotFound) {
			w.log.Warn("stopping the container group failed; reconcile will retry", "flow_run_id", r.id, "group", r.group, "err", err)
		} else {
			w.log.Info("stopped container group (kept)", "flow_run_id", r.id, "group", r.group)
		}
	default:
		if err := lc.RemoveGroup(ctx, aci.RequestDelete); err != nil {
			w.log.Warn("deleting the container group failed; reconcile will retry", "flow_run_id", r.id, "group", r.group, "err", err)
		} else {
			w.log.Info("deleted container group", "flow_run_id", r.id, "group", r.group)
		}
	}
	if err := lc.DeleteRecord(ctx, false); err != nil {
		w.log.Warn("deleting the deployment record failed; reconcile will retry", "flow_run_id", r.id, "deployment", r.deploymentName(), "err", err)
	}
}
