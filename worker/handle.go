package worker

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/prefect"
)

// A run is the handle of one flow run in this worker, in the shape of
// Nomad's task handles: one goroutine owns it from its entry point (start
// for a run this worker claims, recover for one found in flight) to its
// end, and makes every Prefect write and every Azure change for it. The
// watcher only observes: it tells the run what it saw (tell), and the
// run's goroutine acts on it (follow). The store owns the set of runs.
//
// Fields set before the run is given to the watcher (id, fr, tgt, group,
// cfg, startBy) are read by the watcher and never changed after; the rest
// belong to the run's goroutine.
type run struct {
	// finishCounted: the Observer has heard how the run ended (once).
	finishCounted atomic.Bool
	// submitted: Azure accepted the run's deployment, or the run was
	// adopted; only then does its end count.
	submitted atomic.Bool

	id     string
	fr     prefect.FlowRun
	poolID string
	origin origin
	phase  phase
	// hasSlot: the store gave the run a --limit slot (see store.take).
	hasSlot bool
	claim   string   // transition id of our accepted Pending proposal
	lk      *lookups // deployment and flow reads shared with the runs of the same poll

	startBy time.Time // zero: no start timeout

	flow       *prefect.Flow
	deployment *prefect.Deployment
	cfg        *jobConfig
	job        aci.Job
	prepared   *aci.Prepared
	tgt        *target
	group      string
	// submittedEvent is the run's submitted event, which its executed
	// event follows (zero for a run this worker recovered).
	submittedEvent eventRef

	// seen carries the watcher's observations to the run's goroutine:
	// buffered one deep, the latest wins (see tell).
	seen chan seen
	// container is the container's name, "" while unknown; the output
	// streamer hears it on streamNames.
	container   string
	streamNames chan string
	logFinal    chan bool
	logDone     chan struct{}
}

// origin is how a run came to this worker.
type origin int

const (
	submitted      origin = iota // polled and claimed by this worker (start)
	recovered                    // found in flight, its worker gone or restarted (recover)
	abandonedClaim               // recovered: a claim whose worker is gone, which may go back to the pool
)

// phase is where a run is in its life; only its goroutine moves it.
type phase int

const (
	phaseClaiming     phase = iota // proposing Pending, checking the claim
	phaseConfiguring               // templating, building the job
	phaseProvisioning              // deployment submitted; the watcher follows it until the group starts
	phaseRunning                   // the group started (or was found); watched
	phaseCancelling                // Cancelling past the grace period: removing the group
	phaseFinishing                 // reporting the end, cleaning up
)

var phaseNames = [...]string{"claiming", "configuring", "provisioning", "running", "cancelling", "finishing"}

func (p phase) String() string { return phaseNames[p] }

// seen is what the watcher tells a run: a group read (the container's
// name may be in it), that its cancellation grace is over (kill), or its
// outcome, after which the watcher no longer watches it.
type seen struct {
	group   *aci.Group
	started bool // provisioning is over: the group started
	kill    bool
	final   *outcome
}

// tell hands the run an observation without waiting: one that was not
// taken yet is replaced (its group read carried over when the new one has
// none). The watcher stops telling a run anything after an outcome, and
// after a kill until the run asks again (killFailed), so neither is lost.
func (r *run) tell(s seen) {
	for {
		select {
		case r.seen <- s:
			return
		default:
		}
		select {
		case old := <-r.seen:
			if s.group == nil {
				s.group = old.group
			}
			s.started = s.started || old.started
		default:
		}
	}
}

// noteContainer learns the container's name from a group read, when the
// template did not say it, and passes it to the output streamer.
func (r *run) noteContainer(g *aci.Group) {
	if g == nil || r.container != "" || len(g.Containers) == 0 {
		return
	}
	r.container = g.Containers[0].Name
	if r.streamNames != nil {
		select {
		case r.streamNames <- r.container:
		default: // the streamer has not read the last one: it reads this one next
			select {
			case <-r.streamNames:
			default:
			}
			r.streamNames <- r.container
		}
	}
}

func (r *run) deploymentName() string { return DeploymentName(r.group) }

// lifecycle is the run's container group's life in Azure (the one aciworker
// run goes through too). It keeps no state the worker uses, so whoever acts
// for the run (its goroutine, the watcher's reads) takes one of its own.
func (r *run) lifecycle() *aci.Lifecycle {
	return aci.NewLifecycle(r.tgt.client, r.tgt.rg, r.group, r.deploymentName())
}

// start is the entry point of a run this worker polled: claim, configure,
// provision, then follow. The --limit slot is held until it returns.
func (w *Worker) start(ctx context.Context, r *run) {
	defer w.runs.Done()
	defer w.runDone(r)
	if !w.registered(ctx) {
		return
	}
	started, err := w.submit(ctx, r)
	if ctx.Err() != nil {
		return // shutting down: whatever exists is re-adopted later
	}
	if err != nil {
		w.submissionFailed(ctx, r, err)
		return
	}
	if !started {
		return
	}
	w.follow(ctx, r)
}

// registered waits for the worker's first heartbeat to end, which follows
// its first query for scheduled runs: a run is claimed or taken over only
// once the worker is known to Prefect (and on Prefect Cloud knows its id).
// False means ctx ended first.
func (w *Worker) registered(ctx context.Context) bool {
	select {
	case <-w.beat:
		return true
	case <-ctx.Done():
		return false
	}
}

// follow is the one loop both entry points end in: it streams the output,
// hands the run to the watcher, and acts on what the watcher tells it until
// the run is over.
func (w *Worker) follow(ctx context.Context, r *run) {
	r.seen = make(chan seen, 1)
	if r.phase != phaseProvisioning {
		r.phase = phaseRunning
	}
	if r.cfg.StreamOutput {
		w.startStreaming(ctx, r)
	}
	w.watch.add(r)
	for {
		select {
		case <-ctx.Done():
			if w.finishOnStop(ctx, r) {
				return
			}
			w.watch.remove(r.id)
			w.stopStreaming(r, false)
			return
		case s := <-r.seen:
			r.noteContainer(s.group)
			var o outcome
			switch {
			case s.final != nil:
				o = *s.final
			case s.kill:
				if !w.kill(ctx, r) {
					w.watch.killFailed(r.id)
					continue
				}
				w.watch.remove(r.id)
				o = outcome{kind: outCancelled}
			default:
				if s.started && r.phase == phaseProvisioning {
					r.phase = phaseRunning
				}
				continue
			}
			r.phase = phaseFinishing
			w.finish(ctx, r, o)
			if o.kind != outRunGone {
				w.observeFinal(ctx, r)
			}
			return
		}
	}
}

// kill removes a Cancelling run's group the prefect-azure way (stop when
// kept, else delete) and marks the run Cancelled; false means it is tried
// again next round. A worker that stops meanwhile finishes the kill first
// (bounded by cleanupTimeout): a half-done cancellation helps no one.
func (w *Worker) kill(parent context.Context, r *run) bool {
	r.phase = phaseCancelling
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), cleanupTimeout)
	defer cancel()
	how := aci.Delete
	if r.cfg.KeepGroup {
		how = aci.Stop
	}
	err := r.lifecycle().RemoveGroup(ctx, how)
	if err != nil && !errors.Is(err, aci.ErrNotFound) {
		if parent.Err() == nil {
			w.runLog(r.id, prefect.LevelWarning, "Could not remove the container group of the cancelled flow run; retrying: "+err.Error())
		}
		return false
	}
	if errors.Is(err, aci.ErrNotFound) {
		w.log.Debug("container group already gone on cancellation", "flow_run_id", r.id)
	}
	if err := w.markCancelled(ctx, r.id, "Flow run was cancelled; the worker removed its container group."); err != nil {
		w.log.Warn("marking the flow run cancelled failed; retrying", "flow_run_id", r.id, "err", err)
		return false
	}
	w.runLog(r.id, prefect.LevelInfo, "Cancelled flow run '"+r.id+"'")
	return true
}
