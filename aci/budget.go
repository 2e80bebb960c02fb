package aci

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/aciworker/aciworker/internal/backoff"
)

// Budget is a request budget for Azure: token buckets for reads, for
// writes and for deletes, the classes ARM counts apart, plus a shared pause after a 429 so that one throttled
// request holds back all the others until Azure's Retry-After has passed,
// instead of each goroutine discovering the throttle on its own. Every
// request of a Client spends its budget; clients given the same Budget
// (Settings.Budget) share it, as the clients of one subscription should.
type Budget struct {
	mu          sync.Mutex
	reads       bucket
	writes      bucket
	deletes     bucket // the write bucket's size and rate, counted apart
	pausedUntil time.Time
	throttled   atomic.Int64
	clock       backoff.Clock
}

type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

// reserve takes a token, going into debt if needed, and returns how long
// the caller must wait for it; debts make waiters queue in arrival order.
func (b *bucket) reserve(now time.Time) time.Duration {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

func newBudget(clock backoff.Clock, readRate float64, readBurst int, writeRate float64, writeBurst int) *Budget {
	if readRate <= 0 {
		readRate = DefaultReadsPerSecond
	}
	if readBurst <= 0 {
		readBurst = DefaultReadBurst
	}
	if writeRate <= 0 {
		writeRate = DefaultWritesPerSecond
	}
	if writeBurst <= 0 {
		writeBurst = DefaultWriteBurst
	}
	return &Budget{
		reads:   bucket{rate: readRate, burst: float64(readBurst), tokens: float64(readBurst)},
		writes:  bucket{rate: writeRate, burst: float64(writeBurst), tokens: float64(writeBurst)},
		deletes: bucket{rate: writeRate, burst: float64(writeBurst), tokens: float64(writeBurst)},
		clock:   backoff.Or(clock),
	}
}

// NewBudget returns a budget with the rates of s (defaults for zeros),
// paced by s.Clock.
func NewBudget(s Settings) *Budget {
	return newBudget(s.Clock, s.ReadsPerSecond, s.ReadBurst, s.WritesPerSecond, s.WriteBurst)
}

// requestClass is the ARM throttling class of a request.
type requestClass int

const (
	classRead requestClass = iota
	classWrite
	classDelete
)

// classOf classes a request by method as ARM does: GET and HEAD read,
// DELETE deletes, everything else (PUT, PATCH, POST) writes.
func classOf(method string) requestClass {
	switch method {
	case http.MethodGet, http.MethodHead:
		return classRead
	case http.MethodDelete:
		return classDelete
	}
	return classWrite
}

// acquire waits for a token of the request's class and for any shared
// pause.
func (b *Budget) acquire(ctx context.Context, class requestClass) error {
	b.mu.Lock()
	now := b.clock.Now()
	bk := &b.reads
	switch class {
	case classWrite:
		bk = &b.writes
	case classDelete:
		bk = &b.deletes
	}
	wait := bk.reserve(now)
	if p := b.pausedUntil.Sub(now); p > wait {
		wait = p
	}
	b.mu.Unlock()
	for wait > 0 {
		if err := backoff.Sleep(ctx, b.clock, wait); err != nil {
			b.mu.Lock()
			bk.tokens++ // give the reservation back
			b.mu.Unlock()
			return err
		}
		// A 429 seen meanwhile extends the pause for everyone.
		b.mu.Lock()
		wait = b.pausedUntil.Sub(b.clock.Now())
		b.mu.Unlock()
	}
	return nil
}

// pause holds every request of the subscription back for d.
func (b *Budget) pause(d time.Duration) {
	b.throttled.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if until := b.clock.Now().Add(d); until.After(b.pausedUntil) {
		b.pausedUntil = until
	}
}

// pauseLeft is how long the shared pause still lasts.
func (b *Budget) pauseLeft() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pausedUntil.Sub(b.clock.Now())
}

// budgetPolicy applies the budget to every attempt, retries included.
type budgetPolicy struct{ b *Budget }

func (p budgetPolicy) Do(req *policy.Request) (*http.Response, error) {
	if err := p.b.acquire(req.Raw().Context(), classOf(req.Raw().Method)); err != nil {
		return nil, err
	}
	resp, err := req.Next()
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		p.b.pause(retryAfter(resp.Header, p.b.clock.Now(), time.Second))
	}
	return resp, err
}

// tryTimeoutPolicy bounds one try of a request from when its budget token
// is granted: the time it waited in the budget's queue is not Azure's
// silence. The try's context ends when the answer's body is closed (or at
// once on an error), as azcore's own try timeout does.
type tryTimeoutPolicy struct{ d time.Duration }

func (p tryTimeoutPolicy) Do(req *policy.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Raw().Context(), p.d)
	resp, err := req.Clone(ctx).Next()
	if err != nil || resp.Body == nil {
		cancel()
		return resp, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends a try's context once its answer's body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// retryAfter is Azure's back-off hint, or def when it gave none (or 0).
func retryAfter(h http.Header, now time.Time, def time.Duration) time.Duration {
	if d, ok := backoff.RetryAfter(h, now); ok && d > 0 {
		return d
	}
	return def
}
