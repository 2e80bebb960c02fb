package aci_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/internal/stalltest"
	"github.com/aciworker/aciworker/prefectaci"
)

func stalledClient(t *testing.T, s *stalltest.Server, tryTimeout time.Duration) *aci.Client {
	t.Helper()
	c, err := aci.NewClient("00000000-0000-0000-0000-000000000001", &azfake.TokenCredential{}, aci.Settings{
		ARMEndpoint: s.URL, Transport: s, TryTimeout: tryTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Against an ARM that never answers, Run gives up at its start timeout
// (the deployment's submission included), tries the clean-up's first step
// twice, then stops and says what may be left behind instead of waiting on
// every further step.
func TestRunGivesUpOnAStalledARM(t *testing.T) {
	t.Parallel()
	arm := stalltest.New(t)
	c := stalledClient(t, arm, 300*time.Millisecond)
	var stderr strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	job := aci.Job{GroupName: "stalled", Image: "alpine", Command: []string{"true"}, CPU: 1, MemoryGB: 1}
	var err error
	if job.Template, err = prefectaci.DefaultTemplate(job); err != nil {
		t.Fatal(err)
	}
	_, err = aci.Run(ctx, c, "rg", job,
		aci.RunOptions{Stderr: &stderr, StartTimeout: 100 * time.Millisecond, PollInterval: 10 * time.Millisecond})
	if ctx.Err() != nil {
		t.Fatalf("Run held on until the test's deadline: %v\n%s", err, stderr.String())
	}
	for _, want := range []error{aci.ErrStartTimeout, aci.ErrCleanup, aci.ErrNoAnswer} {
		if !errors.Is(err, want) {
			t.Errorf("error %v is not %v", err, want)
		}
	}
	reqs := arm.Requests()
	var deploys, deletes, records int
	for _, r := range reqs {
		switch {
		case strings.HasPrefix(r, "PUT ") && strings.Contains(r, "/deployments/"):
			deploys++
		case strings.HasPrefix(r, "DELETE ") && strings.Contains(r, "/containerGroups/stalled"):
			deletes++
		case strings.Contains(r, "/deployments/"):
			records++
		}
	}
	if deploys != 1 || deletes != 2 || records != 0 {
		t.Errorf("requests %q: want one deployment PUT, two group DELETEs and nothing more for the record", reqs)
	}
	// The cause first, then why the clean-up stopped and what it leaves.
	inOrder(t, stderr.String(), "did not start within 100ms", "clean-up failed", "may be left behind", "az container delete")
	if !errors.Is(err, aci.ErrReported) {
		t.Errorf("err = %v: not marked as reported, a caller would print it again", err)
	}
}

// A read Azure does not answer fails after one more try, with ErrNoAnswer,
// instead of the SDK's retries of a try timeout each.
func TestStalledReadGivesUp(t *testing.T) {
	t.Parallel()
	arm := stalltest.New(t)
	c := stalledClient(t, arm, 100*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.GetGroup(ctx, "rg", "g")
	if ctx.Err() != nil || !errors.Is(err, aci.ErrNoAnswer) {
		t.Fatalf("GetGroup: %v (context: %v), want ErrNoAnswer", err, ctx.Err())
	}
	if n := len(arm.Requests()); n != 2 {
		t.Errorf("%d tries, want 2 (%v)", n, err)
	}
}
