package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/worker"
)

// BenchmarkStartToFirstPoll measures a worker's start-up against a real
// Prefect server: from New to the first answered query for scheduled runs
// (pool sync and heartbeat included). One op is one worker start.
func BenchmarkStartToFirstPoll(b *testing.B) {
	bd := newBed(b, prefecttest.Get(b))
	bd.createPool(nil)
	for b.Loop() {
		cfg := bd.config()
		w, err := worker.New(cfg)
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
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
