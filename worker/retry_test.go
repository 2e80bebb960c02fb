package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/backoff/fakeclock"
	"github.com/aciworker/aciworker/prefect"
)

// The five minutes of retries of an overloaded server run on the worker's
// clock: a test moves it past them instead of waiting.
func TestRetryTransientGivesUpOnTheWorkersClock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		wantCalls func(int) bool
	}{
		{"overload is retried for transientRetryFor", &prefect.APIError{StatusCode: 503, Detail: "database is locked"}, func(n int) bool { return n > 5 }},
		{"a refusal is not retried", &prefect.APIError{StatusCode: 409, Detail: "conflict"}, func(n int) bool { return n == 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			clk := fakeclock.New(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
			w := &Worker{cfg: Config{Clock: clk}}
			calls := 0
			var err error
			done := make(chan struct{})
			go func() {
				defer close(done)
				err = w.retryTransient(ctx, func(context.Context) error { calls++; return tc.err })
			}()
			start := clk.Now()
			if _, derr := clk.Drive(ctx, done); derr != nil {
				t.Fatalf("retryTransient did not give up: %v", derr)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("retryTransient = %v, want the last error %v", err, tc.err)
			}
			if !tc.wantCalls(calls) {
				t.Fatalf("op ran %d times", calls)
			}
			if elapsed := clk.Now().Sub(start); elapsed > transientRetryFor+2*transientMaxDelay {
				t.Fatalf("gave up after %v of clock time, want about %v", elapsed, transientRetryFor)
			}
		})
	}
}
