package worker

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aciworker/aciworker/prefect"
)

// The events Prefect's BaseWorker emits (prefect/workers/base.py), which
// automations, the UI's event feed and audit trails key on.
const (
	EventWorkerStarted   = "prefect.worker.started"
	EventWorkerStopped   = "prefect.worker.stopped"
	EventSubmittedRun    = "prefect.worker.submitted-flow-run"
	EventExecutedRun     = "prefect.worker.executed-flow-run"
	eventQueueSize       = 1000
	eventBatchSize       = 100
	eventSendTimeout     = 30 * time.Second
	eventFlushOnStopWait = 10 * time.Second
	// eventLinger is how long a batch waits for more events after its
	// first: a burst of runs sends a few requests, not one per run or two.
	eventLinger = 2 * time.Second
)

// workerResource is the worker as an event's resource, as BaseWorker's
// _event_resource names it. prefectVersion is the server's version: the
// worker has no Prefect library of its own, and the server's is the API it
// speaks.
func workerResource(name, typ, prefectVersion, ownVersion string) map[string]string {
	r := map[string]string{
		"prefect.resource.id":   "prefect.worker." + typ + "." + slugify(name, 0),
		"prefect.resource.name": name,
		"prefect.worker-type":   typ,
		"aciworker.version":     ownVersion,
	}
	if prefectVersion != "" {
		r["prefect.version"] = prefectVersion
	}
	return r
}

func related(kind, id, name string) map[string]string {
	return map[string]string{
		"prefect.resource.id":   "prefect." + kind + "." + id,
		"prefect.resource.role": kind,
		"prefect.resource.name": name,
	}
}

// runRelated lists a run's related resources in BaseWorker's order: the
// deployment, flow and flow run, then their tags (sorted, once each), then
// the work pool.
func runRelated(fr *prefect.FlowRun, flow *prefect.Flow, dep *prefect.Deployment, pool *prefect.WorkPool) []map[string]string {
	var out []map[string]string
	tags := map[string]bool{}
	if dep != nil {
		out = append(out, related("deployment", dep.ID, dep.Name))
		for _, t := range dep.Tags {
			tags[t] = true
		}
	}
	if flow != nil {
		out = append(out, related("flow", flow.ID, flow.Name))
		for _, t := range flow.Tags {
			tags[t] = true
		}
	}
	if fr != nil {
		out = append(out, related("flow-run", fr.ID, fr.Name))
		for _, t := range fr.Tags {
			tags[t] = true
		}
	}
	for _, t := range slices.Sorted(func(yield func(string) bool) {
		for t := range tags {
			if !yield(t) {
				return
			}
		}
	}) {
		out = append(out, map[string]string{"prefect.resource.id": "prefect.tag." + t, "prefect.resource.role": "tag"})
	}
	return append(out, poolRelated(pool)...)
}

func poolRelated(pool *prefect.WorkPool) []map[string]string {
	if pool == nil || pool.ID == "" {
		return nil
	}
	return []map[string]string{related("work-pool", pool.ID, pool.Name)}
}

// executedRelated marks the flow run of an executed event with what ran it,
// as BaseWorker does with its result's identifier and status code.
func executedRelated(rel []map[string]string, identifier string, statusCode int) []map[string]string {
	for _, r := range rel {
		if r["prefect.resource.role"] == "flow-run" {
			r["prefect.infrastructure.identifier"] = identifier
			r["prefect.infrastructure.status-code"] = strconv.Itoa(statusCode)
		}
	}
	return rel
}

// eventSink delivers events in the background. Emitting never blocks and
// never fails: an event that finds the queue full, or that the server
// refuses, is counted and logged as dropped, because events are a view of
// the worker's work, not part of it.
type eventSink struct {
	send   func(ctx context.Context, events []prefect.Event) error
	log    *slog.Logger
	linger time.Duration

	queue   chan prefect.Event
	dropped atomic.Int64
	sent    atomic.Int64
	done    chan struct{}
	stop    sync.Once
	closed  chan struct{}
}

func newEventSink(send func(ctx context.Context, events []prefect.Event) error, log *slog.Logger) *eventSink {
	return &eventSink{send: send, log: log, linger: eventLinger, queue: make(chan prefect.Event, eventQueueSize),
		done: make(chan struct{}), closed: make(chan struct{})}
}

// eventRef is an emitted event a later one may follow.
type eventRef struct {
	id string
	at time.Time
}

// followsWindow is how close in time an event must be to the one it
// follows for the link to be set, as Prefect's emit_event rules
// (TIGHT_TIMING in prefect/events/utilities.py).
const followsWindow = 5 * time.Minute

// follows is the id an event occurring at `at` may name as its
// predecessor: ref's, when ref is set and within followsWindow.
func (ref eventRef) follows(at time.Time) string {
	if ref.id == "" {
		return ""
	}
	if d := at.Sub(ref.at); d <= -followsWindow || d >= followsWindow {
		return ""
	}
	return ref.id
}

// emit queues an event and returns a reference to it (for a later event's
// follows).
func (s *eventSink) emit(ev prefect.Event) eventRef {
	if ev.ID == "" {
		ev.ID = prefect.NewEventID()
	}
	if ev.Occurred.IsZero() {
		ev.Occurred = time.Now().UTC()
	}
	select {
	case <-s.closed:
		s.drop(1, "the worker is stopping", ev.Event)
	default:
		select {
		case s.queue <- ev:
		default:
			s.drop(1, "the event queue is full", ev.Event)
		}
	}
	return eventRef{id: ev.ID, at: ev.Occurred}
}

func (s *eventSink) drop(n int, why, event string) {
	total := s.dropped.Add(int64(n))
	s.log.Warn("dropped Prefect events", "event", event, "count", n, "reason", why, "dropped_total", total)
}

// run sends queued events, in batches, until close; each send is bounded.
func (s *eventSink) run() {
	defer close(s.done)
	for {
		var batch []prefect.Event
		closing := false
		select {
		case ev := <-s.queue:
			batch, closing = s.gather(ev)
		case <-s.closed:
			closing = true
		}
		batch = s.drain(batch, closing)
		s.flush(batch)
		if closing {
			return
		}
	}
}

// gather starts a batch with ev and adds the events that come within the
// linger, up to a batch's size; closing is whether the sink was closed
// meanwhile.
func (s *eventSink) gather(ev prefect.Event) (batch []prefect.Event, closing bool) {
	batch = append(batch, ev)
	t := time.NewTimer(s.linger)
	defer t.Stop()
	for len(batch) < eventBatchSize {
		select {
		case ev := <-s.queue:
			batch = append(batch, ev)
		case <-t.C:
			return batch, false
		case <-s.closed:
			return batch, true
		}
	}
	return batch, false
}

// drain adds what is queued to batch: up to a batch's size, or all of it
// when the sink is closing.
func (s *eventSink) drain(batch []prefect.Event, all bool) []prefect.Event {
	for all || len(batch) < eventBatchSize {
		select {
		case ev := <-s.queue:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

func (s *eventSink) flush(batch []prefect.Event) {
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventSendTimeout)
	defer cancel()
	if err := s.send(ctx, batch); err != nil {
		s.drop(len(batch), "the server did not take them: "+err.Error(), batch[0].Event)
		return
	}
	s.sent.Add(int64(len(batch)))
}

// close stops accepting events and waits, at most eventFlushOnStopWait,
// for the queued ones to be sent.
func (s *eventSink) close() {
	s.stop.Do(func() { close(s.closed) })
	select {
	case <-s.done:
	case <-time.After(eventFlushOnStopWait):
		s.log.Warn("Prefect events still unsent at shutdown", "queued", len(s.queue))
	}
}
