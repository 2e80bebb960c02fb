package backoff_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/backoff"
	"github.com/aciworker/aciworker/internal/backoff/fakeclock"
)

func TestPolicyDelay(t *testing.T) {
	t.Parallel()
	fixed := func(r float64) func() float64 { return func() float64 { return r } }
	tests := []struct {
		name string
		p    backoff.Policy
		n    int
		want time.Duration
	}{
		{"first retry waits Initial", backoff.Policy{Initial: time.Second}, 0, time.Second},
		{"doubles by default", backoff.Policy{Initial: time.Second}, 3, 8 * time.Second},
		{"multiplier", backoff.Policy{Initial: time.Second, Multiplier: 3}, 2, 9 * time.Second},
		{"capped at Max", backoff.Policy{Initial: time.Second, Max: 20 * time.Second}, 10, 20 * time.Second},
		{"negative retry is the first", backoff.Policy{Initial: time.Second}, -1, time.Second},
		{"jitter adds up to its share", backoff.Policy{Initial: 10 * time.Second, Jitter: 0.3, Rand: fixed(0.5)}, 0, 11500 * time.Millisecond},
		{"jitter applies after the cap", backoff.Policy{Initial: time.Second, Max: 20 * time.Second, Jitter: 0.3, Rand: fixed(0.5)}, 9, 23 * time.Second},
		{"symmetric jitter at the middle is exact", backoff.Policy{Initial: 2 * time.Second, Jitter: 0.2, SymmetricJitter: true, Rand: fixed(0.5)}, 1, 4 * time.Second},
		{"symmetric jitter goes below", backoff.Policy{Initial: 10 * time.Second, Jitter: 0.2, SymmetricJitter: true, Rand: fixed(0)}, 0, 8 * time.Second},
		{"huge retry counts stay defined", backoff.Policy{Initial: time.Second}, 10_000, time.Duration(1<<62 - 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.p.Delay(tc.n)
			// The last case only needs to stay positive and huge.
			if tc.n == 10_000 {
				if got < time.Duration(1<<61) {
					t.Fatalf("Delay(%d) = %v, want a huge positive wait", tc.n, got)
				}
				return
			}
			if got != tc.want {
				t.Fatalf("Delay(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
}

var (
	errBusy  = errors.New("busy")
	errNoWay = errors.New("refused")
)

func retryable(err error) bool { return errors.Is(err, errBusy) }

func TestRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		p         backoff.Policy
		results   []error // op's answers in order; the last repeats
		wantErr   error
		wantCalls int
		wantWaits []time.Duration
	}{
		{"success at once", backoff.Policy{Initial: time.Second}, []error{nil}, nil, 1, nil},
		{"retries until success", backoff.Policy{Initial: time.Second}, []error{errBusy, errBusy, nil}, nil, 3, []time.Duration{time.Second, 2 * time.Second}},
		{"a refusal is not retried", backoff.Policy{Initial: time.Second}, []error{errNoWay}, errNoWay, 1, nil},
		{"a refusal after retries ends them", backoff.Policy{Initial: time.Second}, []error{errBusy, errNoWay}, errNoWay, 2, []time.Duration{time.Second}},
		{"attempts spent return the last error", backoff.Policy{Initial: time.Second, MaxAttempts: 3}, []error{errBusy}, errBusy, 3, []time.Duration{time.Second, 2 * time.Second}},
		// Waits 1+2+4+8 = 15s; the fifth failure comes 15s after the first attempt, past 10s.
		{"elapsed time spent returns the last error", backoff.Policy{Initial: time.Second, MaxElapsed: 10 * time.Second}, []error{errBusy}, errBusy, 5, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			clk := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			calls := 0
			op := func(context.Context) error {
				err := tc.results[min(calls, len(tc.results)-1)]
				calls++
				return err
			}
			var err error
			done := make(chan struct{})
			go func() { defer close(done); err = backoff.Retry(ctx, clk, tc.p, op, retryable) }()
			waits, derr := clk.Drive(ctx, done)
			if derr != nil {
				t.Fatalf("Retry still running: %v", derr)
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Retry = %v, want %v", err, tc.wantErr)
			}
			if calls != tc.wantCalls {
				t.Fatalf("op ran %d times, want %d", calls, tc.wantCalls)
			}
			if !slices.Equal(waits, tc.wantWaits) {
				t.Fatalf("waits = %v, want %v", waits, tc.wantWaits)
			}
		})
	}
}

func TestRetryReturnsTheLastErrorWhenCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	clk := fakeclock.New(time.Now())
	done := make(chan error, 1)
	go func() {
		done <- backoff.Retry(ctx, clk, backoff.Policy{Initial: time.Hour}, func(context.Context) error { return errBusy }, retryable)
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	if err := clk.BlockUntil(wctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, errBusy) {
			t.Fatalf("Retry = %v, want the operation's own error", err)
		}
	case <-wctx.Done():
		t.Fatal("Retry kept waiting after its context ended")
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- backoff.Sleep(ctx, clk, time.Hour) }()
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if err := <-done; err != nil {
		t.Fatalf("Sleep = %v after the clock passed its end", err)
	}
	if clk.Waiters() != 0 {
		t.Fatalf("%d timers left behind", clk.Waiters())
	}

	ended, cancelEnded := context.WithCancel(context.Background())
	cancelEnded()
	if err := backoff.Sleep(ended, clk, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on an ended context = %v", err)
	}
	if err := backoff.Sleep(ended, clk, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("zero Sleep on an ended context = %v", err)
	}
	if err := backoff.Sleep(context.Background(), nil, 0); err != nil {
		t.Fatalf("zero Sleep = %v", err)
	}
	if clk.Waiters() != 0 {
		t.Fatalf("a canceled Sleep left %d timers", clk.Waiters())
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v      string
		want   time.Duration
		wantOK bool
	}{
		{"3", 3 * time.Second, true},
		{" 0.5 ", 500 * time.Millisecond, true},
		{"0", 0, true},
		{"-4", 0, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range tests {
		got, ok := backoff.ParseRetryAfter(tc.v, now)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		hdr    http.Header
		want   time.Duration
		wantOK bool
	}{
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second, true},
		{http.Header{"Retry-After-Ms": {"150"}, "Retry-After": {"3"}}, 150 * time.Millisecond, true},
		{http.Header{"X-Ms-Retry-After-Ms": {"20"}}, 20 * time.Millisecond, true},
		{http.Header{"Retry-After-Ms": {"0"}, "Retry-After": {"2"}}, 2 * time.Second, true},
		{http.Header{"Retry-After": {now.Add(time.Minute).Format(http.TimeFormat)}}, time.Minute, true},
		{http.Header{"Retry-After": {"0"}}, 0, true},
		{http.Header{"Retry-After": {"later"}}, 0, false},
		{http.Header{}, 0, false},
	}
	for _, tc := range tests {
		got, ok := backoff.RetryAfter(tc.hdr, now)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("RetryAfter(%v) = %v, %v; want %v, %v", tc.hdr, got, ok, tc.want, tc.wantOK)
		}
	}
}
