package emulator_test

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/emutest"
)

func TestThrottling(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t, func(c *emulator.Config) {
		c.Throttle = emulator.ThrottleLimits{Reads: emulator.Bucket{Size: 5, RefillPerSecond: 0.01}}
	})
	s := newSDK(t, e)
	ctx := ctxT(t)
	c := newRaw(t, s)
	path := groupsPath(s.set, "") + "?api-version=2023-05-01"
	for i := 4; i >= 0; i-- {
		r := c.do("GET", path, nil)
		if r.status != 200 || r.header.Get("x-ms-ratelimit-remaining-subscription-reads") != strconv.Itoa(i) {
			t.Fatalf("read %d: status %d remaining %q", 5-i, r.status, r.header.Get("x-ms-ratelimit-remaining-subscription-reads"))
		}
	}
	r := c.do("GET", path, nil)
	ra, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != 429 || r.code() != "SubscriptionRequestsThrottled" || ra < 1 {
		t.Fatalf("over budget: %d %s Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
	}
	// The SDK gives up at once when Retry-After exceeds its MaxRetryDelay.
	_, err := s.groups.NewListByResourceGroupPager(s.set.ResourceGroup, nil).NextPage(ctx)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 429 || re.ErrorCode != "SubscriptionRequestsThrottled" {
		t.Fatalf("SDK error %v", err)
	}
	// Writes have their own bucket.
	if _, err := createGroup(ctx, s, "writes-ok", validGroup()); err == nil || errorCode(t, err) != "SubscriptionRequestsThrottled" {
		// The PUT passes; its LRO polls are reads and are throttled.
		t.Fatalf("create while reads are exhausted: %v", err)
	}
	if w := e.Counters().ByOp["containerGroups.put"][201]; w != 1 {
		t.Fatalf("PUT not accepted on the write bucket: %v", e.Counters().ByOp)
	}
	e.SetThrottling(false)
	if r := c.do("GET", path, nil); r.status != 200 {
		t.Fatalf("with throttling off: %d", r.status)
	}
	if n := e.Counters().Status(429); n < 2 {
		t.Fatalf("429s counted: %d", n)
	}
}

func TestThrottlingDefaultBucket(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	c := newRaw(t, s)
	path := groupsPath(s.set, "") + "?api-version=2023-05-01"
	// ARM's bucket holds 250: the first read leaves 249. (Counting reads
	// up to the first 429 depends on how fast the loop runs against the
	// refill of 25/s.)
	if r := c.do("GET", path, nil); r.status != 200 || r.header.Get("x-ms-ratelimit-remaining-subscription-reads") != "249" {
		t.Fatalf("first read: %d, remaining %q, want 249", r.status, r.header.Get("x-ms-ratelimit-remaining-subscription-reads"))
	}
	for i := 0; ; i++ {
		if i == 5000 {
			t.Fatal("5000 reads were never throttled")
		}
		if r := c.do("GET", path, nil); r.status == 429 {
			if i < 249 {
				t.Fatalf("throttled after %d reads; ARM's bucket holds 250", i+1)
			}
			return
		}
	}
}

func TestInjectedFaults(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	ctx := ctxT(t)
	if _, err := createGroup(ctx, s, "target", validGroup()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		fault     emulator.Fault
		call      func() error
		wantCode  string // "" = the SDK retries through it
		wantCount int    // faulted responses counted
	}{
		{"persistent 500 on get", emulator.Fault{Op: "containerGroups.get", Status: 500, Code: "InternalServerError", Times: 10},
			func() error { _, err := s.groups.Get(ctx, s.set.ResourceGroup, "target", nil); return err }, "InternalServerError", 4},
		{"one 503 on get is retried", emulator.Fault{Op: "containerGroups.get", Status: 503, Code: "ServiceUnavailable", Times: 1},
			func() error { _, err := s.groups.Get(ctx, s.set.ResourceGroup, "target", nil); return err }, "", 1},
		{"409 on put is not retried", emulator.Fault{Op: "containerGroups.put", Status: 409, Code: "RegistryErrorResponse", Message: "An error response is received from the Docker registry 'index.docker.io'. Please retry later.", Times: 1},
			func() error { _, err := createGroup(ctx, s, "other", validGroup()); return err }, "RegistryErrorResponse", 1},
		{"429 with long Retry-After surfaces", emulator.Fault{Op: "containers.logs", Status: 429, Code: "TooManyRequests", Times: 1, RetryAfter: 30 * time.Second},
			func() error {
				_, err := s.containers.ListLogs(ctx, s.set.ResourceGroup, "target", "main", nil)
				return err
			}, "TooManyRequests", 1},
		{"token endpoint fault", emulator.Fault{Op: "token", Status: 500, Code: "temporarily_unavailable", Times: 1},
			func() error {
				ns := newSDK(t, e)
				_, err := ns.groups.Get(ctx, s.set.ResourceGroup, "target", nil)
				return err
			}, "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Counters().ByOp[tc.fault.Op][tc.fault.Status]
			e.InjectFault(tc.fault)
			err := tc.call()
			e.ClearFaults()
			if tc.wantCode == "" && err != nil {
				t.Fatalf("not retried through: %v", err)
			}
			if tc.wantCode != "" {
				if err == nil {
					t.Fatal("no error")
				}
				if got := errorCode(t, err); got != tc.wantCode {
					t.Fatalf("code %s, want %s", got, tc.wantCode)
				}
			}
			if got := e.Counters().ByOp[tc.fault.Op][tc.fault.Status] - before; got != tc.wantCount {
				t.Fatalf("%d faulted responses counted, want %d", got, tc.wantCount)
			}
		})
	}
}

func TestListPagingStartRestartKill(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t, func(c *emulator.Config) { c.MaxGroups = 200; c.MaxCores = 200 })
	s := newSDK(t, e)
	ctx := ctxT(t)
	const n = 130
	for i := range n {
		p, err := s.groups.BeginCreateOrUpdate(ctx, s.set.ResourceGroup, fmt.Sprintf("page-%03d", i), validGroup(), nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = p
	}
	seen := map[string]bool{}
	pages := 0
	pager := s.groups.NewListByResourceGroupPager(s.set.ResourceGroup, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, g := range page.Value {
			if g.Properties.InstanceView != nil || g.Properties.Containers[0].Properties.InstanceView != nil {
				t.Fatal("list returned an instance view")
			}
			seen[*g.Name] = true
		}
	}
	if len(seen) != n || pages < 2 {
		t.Fatalf("listed %d groups in %d pages", len(seen), pages)
	}

	// A long-running group: kill crashes it, restartPolicy Always restarts it.
	g := validGroup("sleep", "30")
	g.Properties.RestartPolicy = to.Ptr(armcontainerinstance.ContainerGroupRestartPolicyAlways)
	if _, err := createGroup(ctx, s, "sleeper", g); err != nil {
		t.Fatal(err)
	}
	if err := e.KillContainer(s.set.ResourceGroup, "sleeper"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.groups.Stop(ctx, s.set.ResourceGroup, "sleeper", nil); err != nil {
		t.Fatal(err)
	}
	waitGroup(ctx, t, s, "sleeper", func(g armcontainerinstance.ContainerGroup) bool { return *g.Properties.InstanceView.State == "Stopped" })
	sp, err := s.groups.BeginStart(ctx, s.set.ResourceGroup, "sleeper", nil)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if _, err := sp.PollUntilDone(ctx, fast); err != nil {
		t.Fatalf("start poll: %v", err)
	}
	waitGroup(ctx, t, s, "sleeper", func(g armcontainerinstance.ContainerGroup) bool { return *g.Properties.InstanceView.State == "Running" })
	rp, err := s.groups.BeginRestart(ctx, s.set.ResourceGroup, "sleeper", nil)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	if _, err := rp.PollUntilDone(ctx, fast); err != nil {
		t.Fatalf("restart poll: %v", err)
	}
	// Unknown container name in logs.
	_, err = s.containers.ListLogs(ctx, s.set.ResourceGroup, "sleeper", "nope", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || !strings.Contains(re.ErrorCode, "NotFound") {
		t.Fatalf("logs of unknown container: %v", err)
	}
}
