package worker

import (
	"context"
	"errors"
	"time"

	"github.com/aciworker/aciworker/internal/backoff"
	"github.com/aciworker/aciworker/prefect"
)

// Prefect calls of a claimed run are retried past the client's own retries
// while the server is overloaded (a SQLite server answers 503 "database is
// locked" under load): giving up would leave the run Pending, or report a
// crash that never happened.
const (
	transientRetryFor = 5 * time.Minute
	transientMaxDelay = 20 * time.Second
)

// transient reports errors worth retrying: server overload, throttling,
// timeouts and transport failures, but not a refusal.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ae *prefect.APIError
	if errors.As(err, &ae) {
		return ae.StatusCode >= 500 || ae.StatusCode == 429 || ae.StatusCode == 408
	}
	return true
}

// transientRetry waits 1 s, doubling up to transientMaxDelay, with the
// 30 % jitter of the worker's loops.
var transientRetry = backoff.Policy{
	Initial:    time.Second,
	Max:        transientMaxDelay,
	Jitter:     loopJitter,
	MaxElapsed: transientRetryFor,
}

// retryTransient runs op until it succeeds, fails for good, or keeps
// failing transiently for transientRetryFor; it returns op's last error.
func (w *Worker) retryTransient(ctx context.Context, op func(context.Context) error) error {
	return backoff.Retry(ctx, w.cfg.Clock, transientRetry, op, transient)
}
