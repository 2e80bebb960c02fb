package aci_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armdeployments"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/emutest"
	"github.com/aciworker/aciworker/emulator/runtime"
	"github.com/aciworker/aciworker/prefectaci"
)

// env is one emulator and an aci client on it.
type env struct {
	emu  *emulator.Emulator
	s    aci.Settings
	cred azcore.TokenCredential
	c    *aci.Client
	sub  string
	rg   string
}

func settingsFor(emu *emulator.Emulator) aci.Settings {
	es := emu.Settings()
	return aci.Settings{
		ARMEndpoint:   emu.URL(),
		AuthorityHost: emu.AuthorityHost(),
		TenantID:      es.TenantID, ClientID: es.ClientID, ClientSecret: es.ClientSecret,
		Transport:     emu.Client(),
		RetryDelay:    20 * time.Millisecond,
		MaxRetryDelay: 2 * time.Second,
	}
}

func newEnv(t *testing.T, opts ...func(*emulator.Config)) *env {
	t.Helper()
	emu := emutest.Start(t, opts...)
	s := settingsFor(emu)
	cred, err := s.Credential()
	if err != nil {
		t.Fatal(err)
	}
	c, err := aci.NewClient(emu.Settings().SubscriptionID, cred, s)
	if err != nil {
		t.Fatal(err)
	}
	return &env{emu: emu, s: s, cred: cred, c: c, sub: emu.Settings().SubscriptionID, rg: emu.Settings().ResourceGroup}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	on func(string)
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	n, err := s.b.Write(p)
	text := s.b.String()
	on := s.on
	s.mu.Unlock()
	if on != nil {
		on(text)
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	code           int
	err            error
	stdout, stderr string
	group          string
	deployment     string
}

func (e *env) run(t *testing.T, ctx context.Context, job aci.Job, opts aci.RunOptions, stdout *syncBuffer) result {
	t.Helper()
	if job.Image == "" {
		job.Image = aci.DefaultImage
		job.Entrypoint = aci.DefaultEntrypoint
	}
	if job.GroupName == "" {
		job.GroupName = aci.NewRunGroupName()
	}
	if job.Template == nil {
		var err error
		if job.Template, err = prefectaci.DefaultTemplate(job); err != nil {
			t.Fatal(err)
		}
	}
	if stdout == nil {
		stdout = &syncBuffer{}
	}
	var stderr syncBuffer
	opts.Stdout, opts.Stderr = stdout, &stderr
	if opts.PollInterval == 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	code, err := aci.Run(ctx, e.c, e.rg, job, opts)
	return result{code: code, err: err, stdout: stdout.String(), stderr: stderr.String(), group: job.GroupName, deployment: aci.RunDeploymentName(job.GroupName)}
}

// assertGone checks that neither the group nor the deployment record is
// left behind.
func (e *env) assertGone(t *testing.T, r result) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.c.GetGroup(ctx, e.rg, r.group); !errors.Is(err, aci.ErrNotFound) {
		t.Errorf("container group %s still there (err %v)", r.group, err)
	}
	deps, err := e.c.ListDeployments(ctx, e.rg)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps {
		if d.Name == r.deployment {
			t.Errorf("deployment record %s left behind (%s)", d.Name, d.ProvisioningState)
		}
	}
}

func sh(script string) []string { return []string{"sh", "-c", script} }

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name   string
		script string
		want   int
	}{
		{"success", "echo ok", 0},
		{"failure", "echo failing; exit 1", 1},
		{"exit 7", "exit 7", 7},
		// A child killed: the main process is its container's init, which
		// cannot signal itself to death (as in a container without an init).
		{"killed", "sh -c 'kill -9 $$'; exit $?", 137},
		{"exits at once", "true", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := e.run(t, context.Background(), aci.Job{Command: sh(tc.script)}, aci.RunOptions{}, nil)
			if r.err != nil {
				t.Fatalf("Run: %v\nstderr:\n%s", r.err, r.stderr)
			}
			if r.code != tc.want {
				t.Errorf("exit code %d, want %d\nstderr:\n%s", r.code, tc.want, r.stderr)
			}
			if want := fmt.Sprintf("terminated with exit code %d", tc.want); !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
			for _, want := range []string{"submitting deployment", "deleted container group " + r.group, "deleted deployment record " + r.deployment} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			e.assertGone(t, r)
		})
	}
}

func TestRunOutput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t.Run("stdout and stderr", func(t *testing.T) {
		t.Parallel()
		r := e.run(t, context.Background(), aci.Job{Command: sh("echo to-stdout; echo to-stderr >&2; printf 'no newline'")}, aci.RunOptions{}, nil)
		if r.err != nil || r.code != 0 {
			t.Fatalf("Run: %d %v\n%s", r.code, r.err, r.stderr)
		}
		// The log interleaves both streams; the order across them is the
		// log's, not the program's.
		for _, want := range []string{"to-stdout\n", "to-stderr\n", "no newline"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q: %q", want, r.stdout)
			}
		}
	})
	t.Run("quick exit", func(t *testing.T) {
		t.Parallel()
		r := e.run(t, context.Background(), aci.Job{Command: []string{"echo", "quick"}}, aci.RunOptions{PollInterval: time.Second}, nil)
		if r.err != nil || r.code != 0 || r.stdout != "quick\n" {
			t.Fatalf("Run: code %d err %v stdout %q\n%s", r.code, r.err, r.stdout, r.stderr)
		}
	})
	t.Run("quiet", func(t *testing.T) {
		t.Parallel()
		r := e.run(t, context.Background(), aci.Job{Command: []string{"echo", "hidden"}}, aci.RunOptions{Quiet: true}, nil)
		if r.err != nil || r.code != 0 || r.stdout != "" {
			t.Fatalf("Run: code %d err %v stdout %q", r.code, r.err, r.stdout)
		}
	})
}

// TestRunManyLines streams 100 000 lines with only 7 distinct texts, most
// sharing a timestamp (one-second resolution), while reading the growing log
// often: every line must arrive once and in order.
func TestRunManyLines(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *emulator.Config) { c.LogTimestampResolution = time.Second })
	const n = 100000
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "line $((i%%7))"; i=$((i+1)); done`, n)
	r := e.run(t, context.Background(), aci.Job{Command: sh(script)}, aci.RunOptions{PollInterval: 20 * time.Millisecond}, nil)
	if r.err != nil || r.code != 0 {
		t.Fatalf("Run: %d %v\n%s", r.code, r.err, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("line %d", i%7); l != want {
			t.Fatalf("line %d = %q, want %q", i, l, want)
		}
	}
	if strings.Contains(r.stderr, "may be missing") {
		t.Errorf("the follower reported a gap:\n%s", r.stderr)
	}
}

func TestRunProvisioningFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *emulator.Config) {
		c.Images = append(c.Images, runtime.Image{Pattern: "private/broken:*", PullError: "manifest for private/broken:1 not found"})
	})
	r := e.run(t, context.Background(), aci.Job{Image: "private/broken:1", Command: []string{"true"}}, aci.RunOptions{Keep: true}, nil)
	if !errors.Is(r.err, aci.ErrProvisioningFailed) {
		t.Fatalf("err = %v, want ErrProvisioningFailed\n%s", r.err, r.stderr)
	}
	for _, s := range []string{r.err.Error(), r.stderr} {
		if !strings.Contains(s, "private/broken:1") {
			t.Errorf("the Azure reason is missing from %q", s)
		}
	}
	// Said once, before the clean-up (which deletes a failed group even
	// with Keep).
	inOrder(t, r.stderr, "provisioning failed: ", "deleted container group")
	e.assertGone(t, r)
}

func TestRunStartTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *emulator.Config) { c.ProvisionDelay = time.Minute })
	r := e.run(t, context.Background(), aci.Job{Command: []string{"true"}}, aci.RunOptions{StartTimeout: 500 * time.Millisecond}, nil)
	if !errors.Is(r.err, aci.ErrStartTimeout) {
		t.Fatalf("err = %v, want ErrStartTimeout\n%s", r.err, r.stderr)
	}
	// The cause comes first, then the clean-up it caused, and Run says it
	// has said so.
	inOrder(t, r.stderr, "did not start within 500ms", "deleted container group", "deleted deployment record")
	if !errors.Is(r.err, aci.ErrReported) {
		t.Errorf("err = %v: not marked as reported, a caller would print it again", r.err)
	}
	e.assertGone(t, r)
}

// inOrder checks that each of want appears in s once, in this order.
func inOrder(t *testing.T, s string, want ...string) {
	t.Helper()
	at := -1
	for _, w := range want {
		if n := strings.Count(s, w); n != 1 {
			t.Errorf("%q appears %d times, want once:\n%s", w, n, s)
			return
		}
		i := strings.Index(s, w)
		if i < at {
			t.Errorf("%q comes before what precedes it in %q:\n%s", w, want, s)
			return
		}
		at = i
	}
}

func TestRunRetriesThrottlingAndServerErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.emu.InjectFault(emulator.Fault{Op: "deployments.put", Status: 500, Code: "InternalServerError", Message: "boom", Times: 1})
	e.emu.InjectFault(emulator.Fault{Op: "operations.get", Status: 503, Code: "ServiceUnavailable", Message: "busy", Times: 2})
	e.emu.InjectFault(emulator.Fault{Op: "containerGroups.get", Status: 429, Code: "SubscriptionRequestsThrottled", Message: "slow down", Times: 2, RetryAfter: 100 * time.Millisecond})
	// Longer than the client's MaxRetryDelay: the SDK hands the 429 back
	// and the client waits for the shared pause itself.
	e.emu.InjectFault(emulator.Fault{Op: "containers.logs", Status: 429, Code: "SubscriptionRequestsThrottled", Message: "slow down", Times: 1, RetryAfter: 3 * time.Second})
	e.emu.InjectFault(emulator.Fault{Op: "containerGroups.delete", Status: 502, Code: "BadGateway", Message: "gateway", Times: 1})
	r := e.run(t, context.Background(), aci.Job{Command: sh("echo survived")}, aci.RunOptions{}, nil)
	if r.err != nil || r.code != 0 {
		t.Fatalf("Run: %d %v\n%s", r.code, r.err, r.stderr)
	}
	if r.stdout != "survived\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if e.c.Throttled() < 3 {
		t.Errorf("budget saw %d throttled responses, want at least 3", e.c.Throttled())
	}
	cnt := e.emu.Counters()
	for _, s := range []int{500, 503, 429, 502} {
		if cnt.Status(s) == 0 {
			t.Errorf("no %d was served: the faults did not fire", s)
		}
	}
	e.assertGone(t, r)
}

func TestRunBadRequestNotRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.emu.InjectFault(emulator.Fault{Op: "deployments.put", Status: 400, Code: "InvalidTemplate", Message: "Deployment template validation failed: 'nope'.", Times: 5})
	r := e.run(t, context.Background(), aci.Job{Command: []string{"true"}}, aci.RunOptions{}, nil)
	if r.err == nil {
		t.Fatal("Run succeeded")
	}
	if !strings.Contains(r.err.Error(), "InvalidTemplate") || !strings.Contains(r.err.Error(), "validation failed: 'nope'") {
		t.Errorf("error does not carry Azure's reason: %v", r.err)
	}
	if n := e.emu.Counters().Count("deployments.put"); n != 1 {
		t.Errorf("deployments.put sent %d times, want 1 (a 400 is final)", n)
	}
	e.assertGone(t, r)
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stdout := &syncBuffer{on: func(s string) {
		if strings.Contains(s, "ready") {
			cancel(errors.New("test cancel"))
		}
	}}
	r := e.run(t, ctx, aci.Job{Command: sh("echo ready; sleep 600")}, aci.RunOptions{}, stdout)
	if !errors.Is(r.err, aci.ErrCanceled) {
		t.Fatalf("err = %v, want ErrCanceled\n%s", r.err, r.stderr)
	}
	e.assertGone(t, r)
}

func TestRunKeep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.run(t, context.Background(), aci.Job{Command: sh("echo kept")}, aci.RunOptions{Keep: true}, nil)
	if r.err != nil || r.code != 0 {
		t.Fatalf("Run: %d %v\n%s", r.code, r.err, r.stderr)
	}
	g, err := e.c.GetGroup(context.Background(), e.rg, r.group)
	if err != nil {
		t.Fatalf("kept group: %v", err)
	}
	if g.State != "Stopped" {
		t.Errorf("kept group state %q, want Stopped", g.State)
	}
	if !strings.Contains(r.stderr, "stopped container group "+r.group+" (kept)") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	deps, err := e.c.ListDeployments(context.Background(), e.rg)
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) != 0 {
		t.Errorf("deployment records left: %+v", deps)
	}
	if err := e.c.DeleteGroup(context.Background(), e.rg, r.group); err != nil {
		t.Fatal(err)
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestRunSecrets runs with a secret variable and a registry password and
// reads back every surface Azure offers: none may hold a secret, yet the
// container saw the variable.
func TestRunSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const tok = "tok-1f2e3d4c5b6a7988"
	const key = "pnu_apikey-0a1b2c3d4e5f"
	const pw = "pw-9a8b7c6d5e4f3021"
	secrets := []string{tok, key, pw}
	opts := &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Cloud: e.s.Cloud(), Transport: e.emu.Client()}}
	dc, err := armdeployments.NewDeploymentsClient(e.sub, e.cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := armcontainerinstance.NewContainerGroupsClient(e.sub, e.cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	var surfaces []string
	record := func(what string, v any, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		b, _ := json.Marshal(v)
		surfaces = append(surfaces, what+": "+string(b))
	}
	hookRan := false
	job := aci.Job{
		Command: sh(`printf %s "$TOKEN" | sha256sum; printf %s "$PREFECT_API_KEY" | sha256sum`),
		Env: []aci.EnvVar{
			{Name: "TOKEN", Value: tok, Secret: true},
			// Callers mark Prefect's credentials (package prefectaci knows
			// their names); aci keeps every marked value secure.
			{Name: "PREFECT_API_KEY", Value: key, Secret: true},
		},
		Registry: &aci.Registry{Server: "reg.example.com", Username: "bob", Password: pw},
	}
	r := e.run(t, context.Background(), job, aci.RunOptions{Keep: true, BeforeCleanup: func(ctx context.Context, p *aci.Prepared) {
		hookRan = true
		d, err := dc.Get(ctx, e.rg, p.DeploymentName, nil)
		record("deployment GET", d, err)
		x, err := dc.ExportTemplate(ctx, e.rg, p.DeploymentName, nil)
		record("exportTemplate", x, err)
		pager := dc.NewListByResourceGroupPager(e.rg, nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			record("deployment list", page, err)
		}
	}}, nil)
	if r.err != nil || r.code != 0 {
		t.Fatalf("Run: %d %v\n%s", r.code, r.err, r.stderr)
	}
	if !hookRan {
		t.Fatal("BeforeCleanup did not run")
	}
	for _, s := range []string{tok, key} {
		if !strings.Contains(r.stdout, sha(s)) {
			t.Errorf("the container did not see a secret: hash %s missing from %q", sha(s), r.stdout)
		}
	}
	g, err := gc.Get(context.Background(), e.rg, r.group, nil)
	record("container group GET", g, err)
	pager := gc.NewListByResourceGroupPager(e.rg, nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		record("container group list", page, err)
	}
	log, _ := json.Marshal(e.emu.RequestLog())
	surfaces = append(surfaces, "emulator request log: "+string(log), "stdout: "+r.stdout, "stderr: "+r.stderr)
	for _, s := range surfaces {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("a secret (%s...) appears in %s", secret[:4], s[:min(len(s), 60)])
			}
		}
	}
	deps, err := e.c.ListDeployments(context.Background(), e.rg)
	if err != nil || len(deps) != 0 {
		t.Errorf("deployment records left: %+v %v", deps, err)
	}
}

// The SDK counts throttling and server errors against one retry limit: a
// run of 429s that spends it, then a 504, must still not fail the deploy.
func TestDeployOutlastsThrottlingThenServerError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.emu.InjectFault(emulator.Fault{Op: "deployments.put", Status: 429, Code: "SubscriptionRequestsThrottled", Message: "slow down", Times: int(aci.DefaultMaxRetries)})
	e.emu.InjectFault(emulator.Fault{Op: "deployments.put", Status: 504, Code: "GatewayTimeout", Message: "gateway timeout", Times: 1})
	r := e.run(t, context.Background(), aci.Job{Command: sh("echo deployed")}, aci.RunOptions{}, nil)
	if r.err != nil || r.code != 0 {
		t.Fatalf("Run: %d %v\n%s", r.code, r.err, r.stderr)
	}
	cnt := e.emu.Counters()
	if cnt.Status(429) < int(aci.DefaultMaxRetries) || cnt.Status(504) != 1 {
		t.Errorf("served %d answers of 429 and %d of 504; the faults did not fire as planned", cnt.Status(429), cnt.Status(504))
	}
	e.assertGone(t, r)
}

// Regression (found in CI): the SDK's pager keeps the error of a failed
// page and hands it back on every later call without asking Azure again,
// so a listing whose retries ended in a 429 was "retried" for ever. A
// listing tried again now starts over and ends once Azure answers.
func TestListingsOutlastThrottling(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, op := range []string{"containerGroups.list", "deployments.list"} {
		e.emu.InjectFault(emulator.Fault{Op: op, Status: 429, Code: "SubscriptionRequestsThrottled", Message: "slow down", Times: int(aci.DefaultMaxRetries) + 1})
	}
	if _, err := e.c.ListGroups(ctx, e.rg); err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	if _, err := e.c.ListDeployments(ctx, e.rg); err != nil {
		t.Fatalf("ListDeployments: %v", err)
	}
	cnt := e.emu.Counters()
	if got, want := cnt.Status(429), 2*(int(aci.DefaultMaxRetries)+1); got != want {
		t.Errorf("served %d answers of 429, want %d", got, want)
	}
}
