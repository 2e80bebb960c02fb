package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aciworker/aciworker/prefect"
)

// Callers that arrive while a read is in flight share the next read, which
// starts when the first ends; each gets its own run, and one read's error
// goes to its callers only.
func TestRunBatcherCoalesces(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started := make(chan []string, 4)
	release := make(chan error)
	b := &runBatcher{read: func(ctx context.Context, ids []string) (map[string]prefect.FlowRun, error) {
		started <- slices.Clone(ids)
		if err := <-release; err != nil {
			return nil, err
		}
		out := map[string]prefect.FlowRun{}
		for _, id := range ids {
			if id != "gone" {
				out[id] = prefect.FlowRun{ID: id, StateType: "PENDING:" + id}
			}
		}
		return out, nil
	}}
	type answer struct {
		id    string
		fr    prefect.FlowRun
		found bool
		err   error
	}
	answers := make(chan answer, 8)
	get := func(id string) {
		fr, found, err := b.get(ctx, id)
		answers <- answer{id, fr, found, err}
	}
	go get("a")
	if got := <-started; !slices.Equal(got, []string{"a"}) {
		t.Fatalf("first read: %v", got)
	}
	// Three more arrive while the first read is in flight.
	var wg sync.WaitGroup
	for _, id := range []string{"b", "c", "gone"} {
		wg.Go(func() { get(id) })
	}
	waitBatch(t, b, 3)
	release <- nil
	if a := <-answers; a.id != "a" || !a.found || a.fr.StateType != "PENDING:a" || a.err != nil {
		t.Errorf("first caller: %+v", a)
	}
	got := <-started
	slices.Sort(got)
	if !slices.Equal(got, []string{"b", "c", "gone"}) {
		t.Fatalf("second read: %v, want the three that waited", got)
	}
	release <- nil
	wg.Wait()
	for range 3 {
		a := <-answers
		switch {
		case a.err != nil:
			t.Errorf("%s: %v", a.id, a.err)
		case a.id == "gone" && a.found:
			t.Errorf("a run the server did not list was found: %+v", a)
		case a.id != "gone" && (!a.found || a.fr.ID != a.id):
			t.Errorf("%s: %+v", a.id, a)
		}
	}
	// Idle again: the next caller reads at once, and an error reaches it.
	go get("d")
	<-started
	release <- errors.New("boom")
	if a := <-answers; a.err == nil || a.found {
		t.Errorf("a failed read answered %+v", a)
	}
}

// waitBatch waits until n callers wait for the next read.
func waitBatch(t *testing.T, b *runBatcher, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		k := 0
		if b.waiting != nil {
			k = len(b.waiting.ids)
		}
		b.mu.Unlock()
		if k == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d callers never gathered", n)
}

// Concurrent askers for one key share one read; another key has its own;
// a read cut short by its caller's context is not kept.
func TestSharedLookup(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	m := map[string]*lookup[string]{}
	var reads atomic.Int32
	gate := make(chan struct{})
	read := func(key string) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			reads.Add(1)
			<-gate
			return "v-" + key, nil
		}
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 10 {
		key := "x"
		if i == 9 {
			key = "y"
		}
		wg.Go(func() {
			v, err := shared(ctx, &mu, m, key, read(key))
			if err != nil || v != "v-"+key {
				errs <- fmt.Errorf("%s: %q %v", key, v, err)
			}
		})
	}
	// Both reads are under way; an asker that comes after its key's read
	// finished gets the answer kept for the batch.
	deadline := time.Now().Add(20 * time.Second)
	for reads.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("%d reads for two keys", n)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := shared(cctx, &mu, m, "z", func(ctx context.Context) (string, error) { return "", ctx.Err() }); err == nil {
		t.Fatal("a cancelled read succeeded")
	}
	if v, err := shared(ctx, &mu, m, "z", func(context.Context) (string, error) { return "fresh", nil }); err != nil || v != "fresh" {
		t.Errorf("after a cancelled read: %q %v, want a fresh read", v, err)
	}
}
