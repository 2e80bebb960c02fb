package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/prefect"
)

// sideReadTimeout bounds each of the start-up's reads beside its path to
// the first poll: the server's version and the CSRF token.
const sideReadTimeout = 15 * time.Second

// identity is what Prefect knows the worker by beyond its name: the
// backend id Prefect Cloud gives it, whether its metadata went out, the
// server's version, and the started event its stopped event follows.
type identity struct {
	backendID     string
	metadataSent  bool
	serverVersion string
	startedEvent  eventRef
}

// readServerVersion asks the server for its Prefect version once; a
// failure leaves it unknown (events then carry no prefect.version).
func (w *Worker) readServerVersion(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, sideReadTimeout)
	defer cancel()
	v, err := w.pf.ServerVersion(ctx)
	if err != nil {
		w.log.Debug("reading the Prefect server's version failed", "err", err)
		return
	}
	w.mu.Lock()
	w.id.serverVersion = v
	w.mu.Unlock()
}

// prepareWrites fetches the client's CSRF token ahead of its first write;
// a failure is left to that write, which fetches it again.
func (w *Worker) prepareWrites(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, sideReadTimeout)
	defer cancel()
	if err := w.pf.PrepareWrites(ctx); err != nil {
		w.log.Debug("fetching a CSRF token failed", "err", err)
	}
}

// ServerVersion is the Prefect server's version, "" until known.
func (w *Worker) ServerVersion() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.id.serverVersion
}

// BackendID is the worker's id in Prefect Cloud, "" elsewhere or until
// the first heartbeat returned it.
func (w *Worker) BackendID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.id.backendID
}

// metadata is what Prefect's worker reports in its heartbeat: its
// integrations and their versions. aciworker is its own integration.
func (w *Worker) metadata() *prefect.WorkerMetadata {
	return &prefect.WorkerMetadata{Integrations: []prefect.Integration{{Name: "aciworker", Version: w.cfg.Version}}}
}

// heartbeat sends the worker's heartbeat as Prefect's worker channel does
// over REST: on Prefect Cloud it sends the metadata until once accepted
// and asks for the worker's id (return_id) until it has one; a server that
// refuses return_id (422) gets the heartbeat without it.
func (w *Worker) heartbeat(ctx context.Context) error {
	w.mu.Lock()
	hb := prefect.Heartbeat{Worker: w.cfg.Name, IntervalSeconds: int(w.cfg.HeartbeatInterval / time.Second)}
	if w.pf.Cloud() {
		hb.ReturnID = w.id.backendID == ""
		if !w.id.metadataSent {
			hb.Metadata = w.metadata()
		}
	}
	w.mu.Unlock()
	id, err := w.pf.Heartbeat(ctx, w.cfg.Pool, hb)
	var ae *prefect.APIError
	if errors.As(err, &ae) && ae.StatusCode == 422 && hb.ReturnID {
		w.log.Warn("Failed to retrieve worker ID from the Prefect API server.")
		hb.ReturnID = false
		id, err = w.pf.Heartbeat(ctx, w.cfg.Pool, hb)
	}
	if err != nil {
		return err
	}
	if hb.ReturnID && id == "" {
		w.log.Warn("Failed to retrieve worker ID from the Prefect API server.")
	}
	w.mu.Lock()
	if hb.Metadata != nil {
		w.id.metadataSent = true
	}
	if id != "" && w.id.backendID == "" {
		w.id.backendID = id
		w.log.Info("Prefect gave the worker its id", "worker_id", id)
	}
	w.mu.Unlock()
	return nil
}

// emit sends a worker event without waiting; it returns the event's id.
func (w *Worker) emit(event string, related []map[string]string, follows eventRef) eventRef {
	resource := workerResource(w.cfg.Name, w.cfg.Type, w.ServerVersion(), w.cfg.Version)
	if related == nil {
		related = []map[string]string{}
	}
	now := time.Now().UTC()
	return w.events.emit(prefect.Event{Event: event, Occurred: now, Resource: resource, Related: related, Follows: follows.follows(now)})
}

func (w *Worker) emitStarted() {
	pool, _ := w.poolSnapshot()
	id := w.emit(EventWorkerStarted, poolRelated(pool), eventRef{})
	w.mu.Lock()
	w.id.startedEvent = id
	w.mu.Unlock()
}

func (w *Worker) emitStopped() {
	w.mu.Lock()
	started := w.id.startedEvent
	w.mu.Unlock()
	if started.id == "" {
		return // as Prefect's worker: no stopped event without a started one
	}
	pool, _ := w.poolSnapshot()
	w.emit(EventWorkerStopped, poolRelated(pool), started)
}

// emitSubmitted is sent when a run's configuration is ready and its
// container group is about to be requested.
func (w *Worker) emitSubmitted(r *run) {
	pool, _ := w.poolSnapshot()
	r.submittedEvent = w.emit(EventSubmittedRun, runRelated(&r.fr, r.flow, r.deployment, pool), eventRef{})
}

// emitExecuted is sent when a run's container ended, with its exit code
// (-1 when it has none), following the run's submitted event when this
// worker sent it.
func (w *Worker) emitExecuted(r *run, statusCode int) {
	pool, _ := w.poolSnapshot()
	rel := executedRelated(runRelated(&r.fr, r.flow, r.deployment, pool), r.group, statusCode)
	w.emit(EventExecutedRun, rel, r.submittedEvent)
}

// logGroupID puts the container group's full ARM resource id into the
// run's logs with the az commands that find it, so that a run seen in the
// Prefect UI can be looked at in Azure.
func (w *Worker) logGroupID(r *run) {
	id := aci.GroupResourceID(r.tgt.client.SubscriptionID(), r.tgt.rg, r.group)
	w.runLog(r.id, prefect.LevelInfo, fmt.Sprintf("Azure container group: %s\n%s", id, aci.FindHint(id)))
}
