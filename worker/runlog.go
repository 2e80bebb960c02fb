package worker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aciworker/aciworker/internal/backoff"
	"github.com/aciworker/aciworker/prefect"
)

// RunLoggerName is the logger name of the worker's messages in a flow run's
// logs, as Prefect's run logger names them.
const RunLoggerName = "prefect.flow_runs.worker"

// Prefect's API log handler batching: flush every 2 s or at 3 MB of JSON;
// one message is capped at 1 MB.
const (
	logFlushInterval = 2 * time.Second
	logBatchBytes    = 3_000_000
	logMaxMessage    = 1_000_000
)

// logShipper sends the worker's messages about flow runs to Prefect in
// batches, so that they show in each run's logs as the Python worker's do.
// Timestamps are kept strictly increasing: Prefect orders logs by time only.
type logShipper struct {
	c     *prefect.Client
	log   *slog.Logger
	clock backoff.Clock // paces the flushes

	mu   sync.Mutex
	buf  []prefect.LogCreate
	size int
	last time.Time
	kick chan struct{}
	done chan struct{}
}

func newLogShipper(c *prefect.Client, log *slog.Logger, clock backoff.Clock) *logShipper {
	return &logShipper{c: c, log: log, clock: clock, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

func (s *logShipper) add(flowRunID string, level int, msg string) {
	if len(msg) > logMaxMessage {
		msg = msg[:logMaxMessage-len(" ... [truncated]")] + " ... [truncated]"
	}
	s.mu.Lock()
	now := time.Now().UTC().Truncate(time.Microsecond)
	if !now.After(s.last) {
		now = s.last.Add(time.Microsecond)
	}
	s.last = now
	s.buf = append(s.buf, prefect.LogCreate{Name: RunLoggerName, Level: level, Message: msg, Timestamp: now, FlowRunID: flowRunID})
	s.size += len(msg) + 200
	full := s.size >= logBatchBytes
	s.mu.Unlock()
	if full {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// run flushes until ctx ends, then flushes what is left with a short
// deadline of its own.
func (s *logShipper) run(ctx context.Context) {
	defer close(s.done)
	for {
		t := s.clock.NewTimer(logFlushInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			s.flush(fctx)
			cancel()
			return
		case <-t.C():
		case <-s.kick:
			t.Stop()
		}
		s.flush(ctx)
	}
}

// flush sends what is buffered, in batches under logBatchBytes; the loop
// above calls it on its ticker and when kicked (before a run's final state,
// so that its logs are in order with the state change).
func (s *logShipper) flush(ctx context.Context) {
	s.mu.Lock()
	batch := s.buf
	s.buf, s.size = nil, 0
	s.mu.Unlock()
	for len(batch) > 0 {
		n, size := 0, 0
		for n < len(batch) && (n == 0 || size+len(batch[n].Message)+200 < logBatchBytes) {
			size += len(batch[n].Message) + 200
			n++
		}
		if err := s.c.CreateLogs(ctx, batch[:n]); err != nil {
			// As Prefect's handler: report and drop, never block the worker.
			s.log.Warn(fmt.Sprintf("could not send %d log lines to Prefect", n), "err", err)
		}
		batch = batch[n:]
	}
}
