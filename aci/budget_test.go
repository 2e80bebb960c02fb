package aci

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/aciworker/aciworker/internal/backoff/fakeclock"
)

func TestBucketReserve(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := bucket{rate: 10, burst: 3, tokens: 3}
	var waits []time.Duration
	for range 5 {
		waits = append(waits, b.reserve(t0))
	}
	want := []time.Duration{0, 0, 0, 100 * time.Millisecond, 200 * time.Millisecond}
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("reservation %d waits %v, want %v", i, waits[i], want[i])
		}
	}
	// One second later the debt of 2 is repaid and 8 more accrue, capped
	// at the burst of 3.
	if w := b.reserve(t0.Add(time.Second)); w != 0 || b.tokens != 2 {
		t.Errorf("after refill: wait %v tokens %v, want 0 and 2", w, b.tokens)
	}
}

func TestBudgetPauseHoldsEveryone(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b := newBudget(clk, 100, 100, 100, 100)
	b.pause(30 * time.Second)
	if got := b.pauseLeft(); got != 30*time.Second {
		t.Fatalf("pauseLeft = %v, want 30s", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.acquire(ctx, classRead); !errors.Is(err, context.Canceled) {
		t.Errorf("a read during the pause: err = %v, want it to wait (and see the cancellation)", err)
	}
	if err := b.acquire(ctx, classWrite); !errors.Is(err, context.Canceled) {
		t.Errorf("a write during the pause: err = %v, want it to wait", err)
	}
	clk.Advance(31 * time.Second)
	if err := b.acquire(ctx, classRead); err != nil {
		t.Errorf("after the pause: %v", err)
	}
	// A shorter pause never shortens a longer one.
	b.pause(time.Minute)
	b.pause(time.Second)
	if got := b.pauseLeft(); got != time.Minute {
		t.Errorf("pauseLeft = %v, want 1m", got)
	}
}

// Deletes have a bucket of their own, as ARM counts them apart from
// writes: a burst of clean-ups does not hold back the next deployments.
func TestBudgetCountsDeletesApart(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b := newBudget(clk, 1, 2, 1, 2)
	ctx := context.Background()
	for range 2 {
		if err := b.acquire(ctx, classDelete); err != nil {
			t.Fatal(err)
		}
	}
	// The delete bucket is empty; writes still have their burst, at once.
	done := make(chan error, 1)
	go func() { done <- b.acquire(ctx, classWrite) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a write waited for the deletes' bucket")
	}
	for m, want := range map[string]requestClass{http.MethodGet: classRead, http.MethodHead: classRead, http.MethodPut: classWrite,
		http.MethodPatch: classWrite, http.MethodPost: classWrite, http.MethodDelete: classDelete} {
		if got := classOf(m); got != want {
			t.Errorf("classOf(%s) = %v, want %v", m, got, want)
		}
	}
}

type fakeTransport struct {
	calls atomic.Int32
	resp  func(n int32, req *http.Request) *http.Response
}

func (f *fakeTransport) Do(req *http.Request) (*http.Response, error) {
	return f.resp(f.calls.Add(1), req), nil
}

func response(req *http.Request, status int, hdr map[string]string, body string) *http.Response {
	h := http.Header{}
	for k, v := range hdr {
		h.Set(k, v)
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: req}
}

func TestBudgetPolicySharesThrottling(t *testing.T) {
	t.Parallel()
	b := newBudget(nil, 100, 100, 100, 100)
	ft := &fakeTransport{resp: func(n int32, req *http.Request) *http.Response {
		return response(req, http.StatusTooManyRequests, map[string]string{"Retry-After": "120"},
			`{"error":{"code":"SubscriptionRequestsThrottled","message":"Number of 'read' requests exceeded."}}`)
	}}
	pl := runtime.NewPipeline("aci", "test", runtime.PipelineOptions{}, &policy.ClientOptions{
		Transport:        ft,
		Retry:            policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: time.Second},
		PerRetryPolicies: []policy.Policy{budgetPolicy{b}},
	})
	req, err := runtime.NewRequest(context.Background(), http.MethodGet, "https://arm.example/x")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := pl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// Retry-After exceeds MaxRetryDelay: the SDK hands the 429 back at once.
	if resp.StatusCode != http.StatusTooManyRequests || ft.calls.Load() != 1 {
		t.Fatalf("status %d after %d calls; want the 429 surfaced after 1 call", resp.StatusCode, ft.calls.Load())
	}
	if left := b.pauseLeft(); left < 100*time.Second {
		t.Errorf("pause left %v, want about 120s", left)
	}
	if b.throttled.Load() != 1 {
		t.Errorf("throttled = %d, want 1", b.throttled.Load())
	}
	// Any other request of the subscription now waits.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req2, _ := runtime.NewRequest(ctx, http.MethodDelete, "https://arm.example/y")
	if _, err := pl.Do(req2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("request during the pause: err = %v, want it held until the deadline", err)
	}
	if ft.calls.Load() != 1 {
		t.Errorf("%d calls reached the server during the pause", ft.calls.Load())
	}
}

func TestRetryAfterDefault(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		hdr  http.Header
		want time.Duration
	}{
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{http.Header{"Retry-After-Ms": {"150"}, "Retry-After": {"3"}}, 150 * time.Millisecond},
		// No hint, or a zero one, is the default: a 429 always pauses.
		{http.Header{"Retry-After": {"0"}}, 7 * time.Second},
		{http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 7 * time.Second},
		{http.Header{}, 7 * time.Second},
	}
	for _, tc := range tests {
		if got := retryAfter(tc.hdr, now, 7*time.Second); got != tc.want {
			t.Errorf("retryAfter(%v) = %v, want %v", tc.hdr, got, tc.want)
		}
	}
}

// A request's try timeout runs from when its budget token is granted: the
// third of three reads at once waits about 0.5 s in a budget of one read
// then 4 a second, past a try timeout of 150 ms, and still gets its answer
// instead of being taken for one Azure did not answer.
func TestTryTimeoutStartsAfterTheBudget(t *testing.T) {
	t.Parallel()
	ft := &fakeTransport{resp: func(_ int32, req *http.Request) *http.Response {
		return response(req, http.StatusOK, map[string]string{"Content-Type": "application/json"},
			`{"name":"g","properties":{"provisioningState":"Succeeded"}}`)
	}}
	c, err := NewClient("00000000-0000-0000-0000-000000000001", &azfake.TokenCredential{}, Settings{
		ARMEndpoint: "https://arm.example", Transport: ft, TryTimeout: 150 * time.Millisecond,
		ReadsPerSecond: 4, ReadBurst: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := c.GetGroup(ctx, "rg", "g")
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("a read queued in the budget: %v", err)
		}
	}
	if n := ft.calls.Load(); n != 3 {
		t.Errorf("%d requests reached Azure, want 3", n)
	}
}
