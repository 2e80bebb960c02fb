// Package backoff is the one place where aciworker decides how long to wait
// before trying again, and waits: a retry policy, Retry with a retryable
// predicate, a context-aware Sleep, the parsing of Retry-After hints, and
// the clock every wait goes through so that time-based rules can be tested
// without waiting.
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Policy is an exponential back-off: retry n (from 0) waits
// Initial·Multiplier^n, capped at Max, then jittered.
type Policy struct {
	// Initial is the wait before the first retry.
	Initial time.Duration
	// Multiplier grows the wait per retry; 0 means 2.
	Multiplier float64
	// Max caps the wait before jitter; 0 means no cap.
	Max time.Duration
	// Jitter spreads waits so that clients that failed together do not
	// retry together: a wait d becomes d·(1+Jitter·r), r uniform in [0,1),
	// or d·(1+Jitter·(2r−1)) when SymmetricJitter is set.
	Jitter          float64
	SymmetricJitter bool
	// MaxElapsed stops retrying once this much time has passed since the
	// first attempt; 0 means no limit.
	MaxElapsed time.Duration
	// MaxAttempts stops after this many attempts; 0 means no limit.
	MaxAttempts int
	// Rand returns uniform numbers in [0,1) for the jitter; nil uses
	// math/rand/v2. Tests set it to get exact delays.
	Rand func() float64
}

// Delay is the wait before retry n (0 is the first retry).
func (p Policy) Delay(n int) time.Duration {
	mult := p.Multiplier
	if mult == 0 {
		mult = 2
	}
	d := float64(p.Initial) * math.Pow(mult, float64(max(n, 0)))
	if p.Max > 0 && d > float64(p.Max) {
		d = float64(p.Max)
	}
	if p.Jitter > 0 {
		r := rand.Float64
		if p.Rand != nil {
			r = p.Rand
		}
		if p.SymmetricJitter {
			d *= 1 + p.Jitter*(2*r()-1)
		} else {
			d *= 1 + p.Jitter*r()
		}
	}
	// Far beyond any sensible wait, but it keeps the conversion defined.
	if d > math.MaxInt64/2 {
		d = math.MaxInt64 / 2
	}
	return time.Duration(d)
}

// Retry runs op until it succeeds, returns an error retryable rejects, the
// policy's attempts or elapsed time are spent, or ctx ends. It returns op's
// last error, never a bare context error in its place, so the caller learns
// why the operation failed rather than only that time ran out. A nil clock
// is the system clock.
func Retry(ctx context.Context, clk Clock, p Policy, op func(context.Context) error, retryable func(error) bool) error {
	clk = Or(clk)
	start := clk.Now()
	for n := 0; ; n++ {
		err := op(ctx)
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		if p.MaxAttempts > 0 && n+1 >= p.MaxAttempts {
			return err
		}
		if p.MaxElapsed > 0 && clk.Now().Sub(start) > p.MaxElapsed {
			return err
		}
		if Sleep(ctx, clk, p.Delay(n)) != nil {
			return err
		}
	}
}

// Sleep waits d on clk, or until ctx ends; it returns ctx's error when ctx
// ended first (also when d <= 0 and ctx has already ended). A nil clock is
// the system clock.
func Sleep(ctx context.Context, clk Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := Or(clk).NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}
