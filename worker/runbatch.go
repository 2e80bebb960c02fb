package worker

import (
	"context"
	"sync"

	"github.com/aciworker/aciworker/prefect"
)

// runBatcher reads the current state of flow runs for many concurrent
// callers with one filter request: a caller that arrives while a request is
// in flight joins the next one, which starts as soon as the one in flight
// ends. A burst of submissions then costs a few requests in all instead of
// one per run, and no caller waits on a timer. Every answer is read after
// its caller asked, never before, so it is as fresh as a read of its own.
type runBatcher struct {
	read  func(ctx context.Context, ids []string) (map[string]prefect.FlowRun, error)
	retry func(context.Context, func(context.Context) error) error // nil: one try

	mu      sync.Mutex
	busy    bool       // a request is in flight
	waiting *runsBatch // the callers that arrived while it was
}

type runsBatch struct {
	ids  []string
	done chan struct{}
	runs map[string]prefect.FlowRun
	err  error
}

func newRunBatcher(pf *prefect.Client, retry func(context.Context, func(context.Context) error) error) *runBatcher {
	return &runBatcher{retry: retry, read: func(ctx context.Context, ids []string) (map[string]prefect.FlowRun, error) {
		out := make(map[string]prefect.FlowRun, len(ids))
		for i := 0; i < len(ids); i += prefectFilterChunk {
			chunk := ids[i:min(i+prefectFilterChunk, len(ids))]
			frs, err := pf.FilterFlowRuns(ctx, prefect.FlowRunFilter{IDs: chunk, Limit: len(chunk)})
			if err != nil {
				return nil, err
			}
			for _, fr := range frs {
				out[fr.ID] = fr
			}
		}
		return out, nil
	}}
}

// get returns the run's current record; found is false when the server
// did not list it (deleted, or a filter that missed it: callers that must
// know read it alone).
func (b *runBatcher) get(ctx context.Context, id string) (fr prefect.FlowRun, found bool, err error) {
	b.mu.Lock()
	if b.waiting == nil {
		b.waiting = &runsBatch{done: make(chan struct{})}
	}
	bt := b.waiting
	bt.ids = append(bt.ids, id)
	if !b.busy {
		b.busy = true
		b.waiting = nil
		// The batch outlives no caller's interest in particular: it runs
		// with the first caller's context, which for a worker is the
		// worker's own.
		go b.drain(ctx, bt)
	}
	b.mu.Unlock()
	select {
	case <-bt.done:
	case <-ctx.Done():
		return prefect.FlowRun{}, false, ctx.Err()
	}
	if bt.err != nil {
		return prefect.FlowRun{}, false, bt.err
	}
	fr, found = bt.runs[id]
	return fr, found, nil
}

// drain reads bt, then each batch that gathered meanwhile, until none has.
func (b *runBatcher) drain(ctx context.Context, bt *runsBatch) {
	for bt != nil {
		read := func(ctx context.Context) (err error) {
			bt.runs, err = b.read(ctx, bt.ids)
			return err
		}
		var err error
		if b.retry != nil {
			err = b.retry(ctx, read)
		} else {
			err = read(ctx)
		}
		bt.err = err
		close(bt.done)
		b.mu.Lock()
		bt = b.waiting
		b.waiting = nil
		if bt == nil {
			b.busy = false
		}
		b.mu.Unlock()
	}
}
