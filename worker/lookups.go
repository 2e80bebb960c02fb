package worker

import (
	"context"
	"sync"

	"github.com/aciworker/aciworker/prefect"
)

// lookups reads each deployment and each flow once for a batch of runs
// (the runs of one poll, or of one adoption round): a burst of runs mostly
// shares one deployment and one flow, and reading them per run cost two
// Prefect requests per run. A batch lives no longer than its poll, so a
// deployment edited between polls is read afresh by the next one.
type lookups struct {
	pf    *prefect.Client
	retry func(context.Context, func(context.Context) error) error // the worker's retryTransient

	mu    sync.Mutex
	deps  map[string]*lookup[*prefect.Deployment]
	flows map[string]*lookup[*prefect.Flow]
}

// lookup is one read shared by every run that asks for the same id: the
// first asker reads, the others wait for its answer.
type lookup[T any] struct {
	done chan struct{}
	v    T
	err  error
}

func newLookups(pf *prefect.Client, retry func(context.Context, func(context.Context) error) error) *lookups {
	return &lookups{pf: pf, retry: retry, deps: map[string]*lookup[*prefect.Deployment]{}, flows: map[string]*lookup[*prefect.Flow]{}}
}

// deployment reads a deployment, retrying transient errors, once per batch.
func (l *lookups) deployment(ctx context.Context, id string) (*prefect.Deployment, error) {
	return sharedRead(ctx, l, l.deps, id, l.pf.ReadDeployment)
}

// flow reads a flow, retrying transient errors, once per batch.
func (l *lookups) flow(ctx context.Context, id string) (*prefect.Flow, error) {
	return sharedRead(ctx, l, l.flows, id, l.pf.ReadFlow)
}

// warmFlow starts reading a flow in the background unless the batch has
// already: a submission reads its flow right after its claim is answered,
// and in a burst that read would queue at the server behind every other
// run's claim, holding up all of them. Read along with the deployment,
// before the claims go out, it is there when they come back. Its answer,
// an error included, is the batch's, as if read after the claim.
func (l *lookups) warmFlow(ctx context.Context, id string) {
	l.mu.Lock()
	_, started := l.flows[id]
	l.mu.Unlock()
	if !started {
		go l.flow(ctx, id) // the answer is kept for the runs that ask
	}
}

// sharedRead is shared with a read by id that retries transient errors.
func sharedRead[T any](ctx context.Context, l *lookups, m map[string]*lookup[T], id string, read func(context.Context, string) (T, error)) (T, error) {
	return shared(ctx, &l.mu, m, id, func(ctx context.Context) (v T, err error) {
		err = l.retry(ctx, func(ctx context.Context) (err error) {
			v, err = read(ctx, id)
			return err
		})
		return v, err
	})
}

// shared returns m[key]'s answer, reading it with read if nobody has. An
// answer that came from a cancelled read is not kept: the next asker reads
// again.
func shared[T any](ctx context.Context, mu *sync.Mutex, m map[string]*lookup[T], key string, read func(context.Context) (T, error)) (T, error) {
	mu.Lock()
	lk, ok := m[key]
	if !ok {
		lk = &lookup[T]{done: make(chan struct{})}
		m[key] = lk
	}
	mu.Unlock()
	if !ok {
		lk.v, lk.err = read(ctx)
		if lk.err != nil && ctx.Err() != nil {
			mu.Lock()
			delete(m, key)
			mu.Unlock()
		}
		close(lk.done)
		return lk.v, lk.err
	}
	select {
	case <-lk.done:
		return lk.v, lk.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
