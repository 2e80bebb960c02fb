package worker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/worker"
)

// BenchmarkStartToFirstPoll measures a worker's start-up against a real
// Prefect server: from New to the first answered query for scheduled runs
// (the pool's read included). One op is one worker start. Besides the mean
// it reports the median and the 90th percentile of the starts: the
// server's own background services (late runs, event persistence) now and
// then land in one start and move the mean by more than the worker does.
// A first start, on the server's cold paths, is not measured.
const quietGap = 300 * time.Millisecond

func BenchmarkStartToFirstPoll(b *testing.B) {
	bd := newBed(b, prefecttest.Get(b))
	bd.createPool(nil)
	startOnce := func() time.Duration {
		t0 := time.Now()
		w, err := worker.New(bd.config())
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		select {
		case <-w.FirstPoll():
		case err := <-done:
			b.Fatalf("worker stopped before its first poll: %v", err)
		case <-time.After(time.Minute):
			b.Fatal("no first poll within a minute")
		}
		took := time.Since(t0)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		// What the stopped worker had asked is still being served: give
		// the server a moment, so that the next start meets a quiet
		// server as a worker's start does.
		time.Sleep(quietGap)
		b.StartTimer()
		return took
	}
	b.StopTimer()
	startOnce()
	b.StartTimer()
	var starts []time.Duration
	for b.Loop() {
		starts = append(starts, startOnce())
	}
	slices.Sort(starts)
	b.ReportMetric(float64(starts[len(starts)/2])/float64(time.Millisecond), "ms-median")
	b.ReportMetric(float64(starts[len(starts)*9/10])/float64(time.Millisecond), "ms-p90")
}
