package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/backoff/fakeclock"
)

// A wake brings the loop's next run forward (after the settle, and no
// sooner than minWokenGap after the last run), wakes that come together
// cost one run, the interval counts again from the woken run, and a loop
// whose last run failed backs off without listening to wakes.
func TestEveryOrWoken(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	clk := fakeclock.New(t0)
	w := &Worker{cfg: Config{Clock: clk}}
	const interval = time.Hour
	wake := make(chan struct{}, 1)
	ran := make(chan time.Time)
	fail := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.everyOrWoken(ctx, interval, true, wake, func(context.Context) error {
			select {
			case ran <- clk.Now():
			case <-ctx.Done():
			}
			select {
			case err := <-fail:
				return err
			default:
				return nil
			}
		})
	}()
	next := func(what string) time.Time {
		t.Helper()
		select {
		case at := <-ran:
			return at
		case <-ctx.Done():
			t.Fatalf("%s: the loop did not run", what)
			return time.Time{}
		}
	}
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	// waitTimer waits for the loop to sleep, and says how long it sleeps.
	waitTimer := func() time.Duration {
		t.Helper()
		if err := clk.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
		d, _ := clk.Next()
		return d
	}

	if at := next("first run"); !at.Equal(t0) {
		t.Fatalf("first run at %v, want at once", at)
	}
	if d := waitTimer(); d < 7*interval/10 {
		t.Fatalf("sleeps %v after a run, want the interval (with jitter)", d)
	}
	// Woken at once after a run: the settle waits out the least gap.
	poke()
	clk.BlockUntil(ctx, 1)
	for {
		if d, _ := clk.Next(); d <= minWokenGap {
			break
		}
		time.Sleep(time.Millisecond) // the loop is still moving from the interval to the settle
	}
	clk.Advance(minWokenGap)
	if at := next("woken run"); !at.Equal(t0.Add(minWokenGap)) {
		t.Fatalf("woken run at %v, want %v", at.Sub(t0), minWokenGap)
	}
	// Three wakes long after the last run: one run, wakeSettle later.
	waitTimer()
	clk.Advance(10 * time.Minute)
	poke()
	poke()
	for {
		if d, _ := clk.Next(); d <= wakeSettle {
			break
		}
		time.Sleep(time.Millisecond)
	}
	poke()
	clk.Advance(wakeSettle)
	woken := next("second woken run")
	if want := t0.Add(minWokenGap + 10*time.Minute + wakeSettle); !woken.Equal(want) {
		t.Fatalf("second woken run at %v, want %v", woken.Sub(t0), want.Sub(t0))
	}
	if d := waitTimer(); d < 7*interval/10 {
		t.Fatalf("after a woken run the loop sleeps %v, want the interval: wakes during the settle are served by that run", d)
	}
	// A failing run: the back-off is not cut short by wakes.
	fail <- errors.New("server in trouble")
	d := waitTimer()
	clk.Advance(d)
	next("run at the interval")
	if d := waitTimer(); d < 2*7*interval/10 {
		t.Fatalf("after a failed run the loop sleeps %v, want a back-off of at least two intervals", d)
	}
	poke()
	time.Sleep(10 * time.Millisecond) // a loop that listened would be settling now
	if d, _ := clk.Next(); d < 2*7*interval/10 {
		t.Fatalf("a wake cut the back-off short: next timer in %v", d)
	}
	cancel()
	<-done
}
