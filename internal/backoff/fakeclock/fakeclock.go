// Package fakeclock is a backoff.Clock whose time moves only when a test
// moves it, so rules measured in minutes are tested in microseconds.
package fakeclock

import (
	"context"
	"sync"
	"time"

	"github.com/aciworker/aciworker/internal/backoff"
)

// Clock is a manual clock. It is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*timer
	changed chan struct{} // closed and replaced whenever a timer is added
}

// New returns a clock reading start.
func New(start time.Time) *Clock {
	return &Clock{now: start, changed: make(chan struct{})}
}

var _ backoff.Clock = (*Clock)(nil)

// Now is the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer firing when the clock reaches Now()+d.
func (c *Clock) NewTimer(d time.Duration) backoff.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	close(c.changed)
	c.changed = make(chan struct{})
	return t
}

// Advance moves the clock forward by d and fires the timers now due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	clear(c.timers[len(kept):])
	c.timers = kept
}

// Waiters is the number of timers not yet fired or stopped.
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Next is how far the earliest pending timer is from Now; ok is false when
// none is pending.
func (c *Clock) Next() (d time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.timers {
		if !ok || t.at.Sub(c.now) < d {
			d, ok = t.at.Sub(c.now), true
		}
	}
	return d, ok
}

// BlockUntil waits until at least n timers are pending, so a test advances
// the clock only once the code under test is waiting on it. It returns
// ctx's error if ctx ends first.
func (c *Clock) BlockUntil(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		pending, changed := len(c.timers), c.changed
		c.mu.Unlock()
		if pending >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// Drive runs the clock for code that waits on it: each time a timer is
// pending it advances to the earliest one, until done is closed (checked
// first, so nothing moves after the code under test has finished) or ctx
// ends. It returns the steps it advanced by, in order.
func (c *Clock) Drive(ctx context.Context, done <-chan struct{}) ([]time.Duration, error) {
	var steps []time.Duration
	for {
		select {
		case <-done:
			return steps, nil
		default:
		}
		c.mu.Lock()
		changed := c.changed
		c.mu.Unlock()
		if d, ok := c.Next(); ok {
			c.Advance(d)
			steps = append(steps, d)
			continue
		}
		select {
		case <-done:
			return steps, nil
		case <-ctx.Done():
			return steps, ctx.Err()
		case <-changed:
		}
	}
}

type timer struct {
	c  *Clock
	at time.Time
	ch chan time.Time
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}
