package prefect_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/prefectaci"
)

// One real Prefect server for the package; tests isolate themselves with
// unique pool, flow, block and variable names.
func TestMain(m *testing.M) { prefecttest.Main(m, prefecttest.Options{}) }

const authString = "admin:correct-horse-battery"

// authServer enforces PREFECT_SERVER_API_AUTH_STRING and CSRF protection;
// it starts alongside the package's server.
var authServer = prefecttest.Extra(prefecttest.Options{
	AuthString: authString,
	Env:        []string{"PREFECT_SERVER_CSRF_PROTECTION_ENABLED=true"},
})

func unique(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

func client(t *testing.T, s *prefecttest.Server) *prefect.Client {
	t.Helper()
	cfg := prefect.ConfigFromEnv(s.Getenv)
	cfg.RetryBaseDelay = 50 * time.Millisecond
	c, err := prefect.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// asJSON decodes JSON (or re-encodes a value) into plain any for comparison.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	data, ok := v.([]byte)
	if !ok {
		var err error
		if data, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func defaultTemplate(t *testing.T) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(prefectaci.DefaultBaseJobTemplate())))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestWorkPoolCreatedByCLI(t *testing.T) {
	t.Parallel()
	s := prefecttest.Get(t)
	ctx := ctxFor(t)
	c := client(t, s)
	pool := unique("cli pool ü")
	if out, err := s.CLI(ctx, "work-pool", "create", pool, "--type", "azure-container-instance"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wp, err := c.ReadWorkPool(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if wp.Name != pool || wp.Type != "azure-container-instance" || wp.ID == "" || wp.DefaultQueueID == "" || wp.IsPaused {
		t.Fatalf("pool %+v", wp)
	}
	if got, want := asJSON(t, wp.BaseJobTemplate), asJSON(t, prefectaci.DefaultBaseJobTemplate()); !reflect.DeepEqual(got, want) {
		t.Fatalf("base job template differs from prefectaci.DefaultBaseJobTemplate():\n got %v\nwant %v", got, want)
	}
	// The template keeps the spelling of its numbers (1.0 stays 1.0).
	mem := wp.BaseJobTemplate["variables"].(map[string]any)["properties"].(map[string]any)["memory"].(map[string]any)["default"]
	if n, ok := mem.(json.Number); !ok || n.String() != "1.0" {
		t.Fatalf("memory default = %#v, want json.Number 1.0", mem)
	}
	queues, err := c.ReadWorkPoolQueues(ctx, pool)
	if err != nil || len(queues) != 1 || queues[0].Name != "default" {
		t.Fatalf("queues %+v err %v", queues, err)
	}
}

func TestWorkPoolREST(t *testing.T) {
	t.Parallel()
	s := prefecttest.Get(t)
	ctx := ctxFor(t)
	c := client(t, s)
	pool := unique("rest-pool")

	if _, err := c.ReadWorkPool(ctx, pool); !errors.Is(err, prefect.ErrNotFound) || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("read of a missing pool: %v, want ErrNotFound with the server's detail", err)
	}
	wp, err := c.CreateWorkPool(ctx, prefect.WorkPoolCreate{Name: pool, Type: "azure-container-instance"})
	if err != nil {
		t.Fatal(err)
	}
	if len(wp.BaseJobTemplate) != 0 {
		t.Fatalf("a pool created without a template has %v", wp.BaseJobTemplate)
	}
	if _, err := c.CreateWorkPool(ctx, prefect.WorkPoolCreate{Name: pool, Type: "azure-container-instance"}); !errors.Is(err, prefect.ErrConflict) {
		t.Fatalf("duplicate create: %v, want ErrConflict", err)
	}
	if _, err := c.CreateWorkPool(ctx, prefect.WorkPoolCreate{Name: "prefect-" + pool}); !errors.Is(err, prefect.ErrForbidden) {
		t.Fatalf("reserved name: %v, want ErrForbidden", err)
	}
	if err := c.UpdateWorkPoolTemplate(ctx, pool, defaultTemplate(t)); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadWorkPool(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(asJSON(t, got.BaseJobTemplate), asJSON(t, prefectaci.DefaultBaseJobTemplate())) {
		t.Fatal("template written with UpdateWorkPoolTemplate did not read back equal")
	}
	bad := map[string]any{"job_configuration": map[string]any{"x": "{{ undeclared }}"}, "variables": map[string]any{"properties": map[string]any{}}}
	err = c.UpdateWorkPoolTemplate(ctx, pool, bad)
	var apiErr *prefect.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnprocessableEntity || apiErr.Detail == "" {
		t.Fatalf("invalid template: %v, want a 422 with detail", err)
	}
	if err := c.DeleteWorkPool(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadWorkPool(ctx, pool); !errors.Is(err, prefect.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

// setup creates a pool with the default ACI template, a flow, a deployment
// whose code is on local disk and one scheduled flow run.
type fixture struct {
	pool       string
	flow       *prefect.Flow
	deployment *prefect.Deployment
	run        *prefect.FlowRun
}

func setup(t *testing.T, c *prefect.Client) fixture {
	t.Helper()
	ctx := ctxFor(t)
	var fx fixture
	fx.pool = unique("pool")
	if _, err := c.CreateWorkPool(ctx, prefect.WorkPoolCreate{Name: fx.pool, Type: "azure-container-instance", BaseJobTemplate: defaultTemplate(t)}); err != nil {
		t.Fatal(err)
	}
	var err error
	if fx.flow, err = c.CreateFlow(ctx, unique("flow")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fx.deployment, err = c.CreateDeployment(ctx, prefect.DeploymentCreate{
		Name: "dep", FlowID: fx.flow.ID, WorkPoolName: fx.pool, Entrypoint: "flows.py:hello",
		PullSteps:    []map[string]any{prefect.SetWorkingDirectoryStep(dir)},
		JobVariables: map[string]any{"resource_group_name": "rg", "subscription_id": "sub", "cpu": 1.5},
		Tags:         []string{"t1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	fx.run, err = c.CreateFlowRunFromDeployment(ctx, fx.deployment.ID, prefect.FlowRunCreate{
		JobVariables: map[string]any{"env": map[string]any{"A": "1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

func TestFlowRunLifecycle(t *testing.T) {
	t.Parallel()
	s := prefecttest.Get(t)
	ctx := ctxFor(t)
	c := client(t, s)
	other := client(t, s)
	fx := setup(t, c)

	if fx.run.StateType != prefect.StateScheduled || fx.run.DeploymentID != fx.deployment.ID || fx.run.FlowID != fx.flow.ID {
		t.Fatalf("new run %+v", fx.run)
	}

	// Deployment and flow read back as created.
	dep, err := c.ReadDeployment(ctx, fx.deployment.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dep.Entrypoint != "flows.py:hello" || dep.WorkPoolName != fx.pool || dep.FlowID != fx.flow.ID || len(dep.PullSteps) != 1 ||
		dep.JobVariables["cpu"] != json.Number("1.5") || dep.Updated == nil || !slices.Equal(dep.Tags, []string{"t1"}) {
		t.Fatalf("deployment %+v", dep)
	}
	fl, err := c.ReadFlow(ctx, fx.flow.ID)
	if err != nil || fl.Name != fx.flow.Name {
		t.Fatalf("flow %+v err %v", fl, err)
	}

	// The run is offered to the pool's workers.
	scheduled, err := c.GetScheduledFlowRuns(ctx, fx.pool, nil, time.Now().Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(scheduled) != 1 || scheduled[0].FlowRun.ID != fx.run.ID || scheduled[0].WorkPoolID == "" {
		t.Fatalf("scheduled runs %+v", scheduled)
	}
	if env, _ := scheduled[0].FlowRun.JobVariables["env"].(map[string]any); env["A"] != "1" {
		t.Fatalf("job variables %v", scheduled[0].FlowRun.JobVariables)
	}
	if _, err := c.GetScheduledFlowRuns(ctx, fx.pool, []string{"no-such-queue"}, time.Now()); !errors.Is(err, prefect.ErrNotFound) {
		t.Fatalf("unknown queue: %v, want ErrNotFound", err)
	}
	if none, err := c.GetScheduledFlowRuns(ctx, fx.pool, []string{"default"}, time.Now().Add(-time.Hour)); err != nil || len(none) != 0 {
		t.Fatalf("runs due an hour ago: %v %v", none, err)
	}

	// Claim: Pending is accepted once; a second worker is told to abort; a
	// replay of the first proposal (same transition id) is not applied twice.
	pending := prefect.StateCreate{Type: prefect.StatePending, StateDetails: prefect.StateDetails{TransitionID: prefect.NewTransitionID()}}
	res, err := c.SetFlowRunState(ctx, fx.run.ID, pending, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != prefect.StatusAccept || res.State == nil || res.State.Type != prefect.StatePending || res.State.Name != "Pending" {
		t.Fatalf("first Pending: %+v", res)
	}
	res, err = other.SetFlowRunState(ctx, fx.run.ID, prefect.StateCreate{Type: prefect.StatePending}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != prefect.StatusAbort || !strings.Contains(res.Details.Reason, "PENDING") {
		t.Fatalf("second Pending: %+v, want ABORT", res)
	}
	res, err = c.SetFlowRunState(ctx, fx.run.ID, pending, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status == prefect.StatusAccept || res.State == nil || res.State.Type != prefect.StatePending {
		t.Fatalf("replayed Pending: %+v, want a non-ACCEPT carrying PENDING", res)
	}
	if again, err := c.GetScheduledFlowRuns(ctx, fx.pool, nil, time.Now().Add(10*time.Second)); err != nil || len(again) != 0 {
		t.Fatalf("a pending run is still offered: %+v %v", again, err)
	}

	labels := map[string]string{"prefect.worker.name": "w 1", "prefect.work-pool.name": fx.pool}
	if err := c.UpdateFlowRunLabels(ctx, fx.run.ID, labels); err != nil {
		t.Fatal(err)
	}
	pid := fx.run.ID + ":hello-" + fx.run.ID
	if err := c.SetInfrastructurePID(ctx, fx.run.ID, pid); err != nil {
		t.Fatal(err)
	}
	fr, err := c.ReadFlowRun(ctx, fx.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fr.InfrastructurePID != pid || fr.Labels["prefect.worker.name"] != "w 1" || fr.State == nil || fr.State.Type != prefect.StatePending {
		t.Fatalf("run after labels and pid: %+v", fr)
	}

	const msg = "Flow run infrastructure exited with non-zero status code 137. Process was killed, likely due to an out-of-memory (OOM) condition."
	res, err = c.SetFlowRunState(ctx, fx.run.ID, prefect.StateCreate{Type: prefect.StateCrashed, Message: msg}, false)
	if err != nil || res.Status != prefect.StatusAccept {
		t.Fatalf("Crashed: %+v %v", res, err)
	}
	fr, err = c.ReadFlowRun(ctx, fx.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fr.StateType != prefect.StateCrashed || fr.State.Name != "Crashed" || fr.State.Message != msg || fr.State.Timestamp == nil {
		t.Fatalf("crashed run %+v state %+v", fr, fr.State)
	}
	// A terminal run refuses another Crashed; force overrides.
	if res, err = c.SetFlowRunState(ctx, fx.run.ID, prefect.StateCreate{Type: prefect.StateCrashed, Message: "again"}, false); err != nil || res.Status != prefect.StatusAbort {
		t.Fatalf("Crashed on a terminal run: %+v %v, want ABORT", res, err)
	}
	if res, err = c.SetFlowRunState(ctx, fx.run.ID, prefect.StateCreate{Type: prefect.StateCancelled, Message: "by test"}, true); err != nil || res.Status != prefect.StatusAccept {
		t.Fatalf("forced Cancelled: %+v %v", res, err)
	}

	runs, err := c.FilterFlowRuns(ctx, prefect.FlowRunFilter{WorkPoolNames: []string{fx.pool}, StateTypes: []string{prefect.StateCancelled}})
	if err != nil || len(runs) != 1 || runs[0].ID != fx.run.ID || runs[0].State.Message != "by test" {
		t.Fatalf("filter by pool and state: %+v %v", runs, err)
	}
	if runs, err = c.FilterFlowRuns(ctx, prefect.FlowRunFilter{IDs: []string{fx.run.ID}, StateTypes: []string{prefect.StateRunning}}); err != nil || len(runs) != 0 {
		t.Fatalf("filter by id and another state: %+v %v", runs, err)
	}
	if _, err := c.SetFlowRunState(ctx, "00000000-0000-4000-8000-000000000000", prefect.StateCreate{Type: prefect.StatePending}, false); !errors.Is(err, prefect.ErrNotFound) {
		t.Fatalf("set_state of a missing run: %v", err)
	}
	if _, err := c.ReadDeployment(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, prefect.ErrNotFound) {
		t.Fatalf("missing deployment: %v", err)
	}
}

func TestHeartbeatAndWorkers(t *testing.T) {
	t.Parallel()
	s := prefecttest.Get(t)
	ctx := ctxFor(t)
	c := client(t, s)
	pool := unique("hb-pool")
	if _, err := c.CreateWorkPool(ctx, prefect.WorkPoolCreate{Name: pool, Type: "azure-container-instance"}); err != nil {
		t.Fatal(err)
	}
	worker := "AzureContainerWorker ü " + unique("w")
	if err := c.SendWorkerHeartbeat(ctx, pool, worker, 30); err != nil {
		t.Fatal(err)
	}
	if err := c.SendWorkerHeartbeat(ctx, pool, worker, 30); err != nil {
		t.Fatal(err)
	}
	workers, err := c.ListWorkers(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(workers) != 1 || workers[0].Name != worker || workers[0].Status != "ONLINE" || workers[0].LastHeartbeatTime == nil ||
		workers[0].HeartbeatIntervalSeconds == nil || *workers[0].HeartbeatIntervalSeconds != 30 {
		t.Fatalf("workers %+v", workers)
	}
	wp, err := c.ReadWorkPool(ctx, pool)
	if err != nil || wp.Status != "READY" {
		t.Fatalf("pool after a heartbeat: %+v %v, want READY", wp, err)
	}
	if err := c.SendWorkerHeartbeat(ctx, unique("missing"), worker, 30); !errors.Is(err, prefect.ErrNotFound) {
		t.Fatalf("heartbeat to a missing pool: %v", err)
	}
}

func TestLogsAndEvents(t *testing.T) {
	t.Parallel()
	s := prefecttest.Get(t)
	ctx := ctxFor(t)
	c := client(t, s)
	fx := setup(t, c)
	base := time.Now().UTC().Truncate(time.Microsecond)
	var logs []prefect.LogCreate
	for i, m := range []string{"Worker 'w' submitting flow run", "ünïcödé ✓ line", "", strings.Repeat("x", 10000)} {
		logs = append(logs, prefect.LogCreate{Name: "prefect.flow_runs.worker", Level: prefect.LevelInfo + 10*(i%2), Message: m,
			Timestamp: base.Add(time.Duration(i) * time.Millisecond), FlowRunID: fx.run.ID})
	}
	if err := c.CreateLogs(ctx, logs); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadLogs(ctx, prefect.LogFilter{FlowRunIDs: []string{fx.run.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(logs) {
		t.Fatalf("read %d logs, want %d", len(got), len(logs))
	}
	for i, l := range got {
		w := logs[i]
		if l.Message != w.Message || l.Level != w.Level || l.Name != w.Name || l.FlowRunID != fx.run.ID || !l.Timestamp.Equal(w.Timestamp) {
			t.Errorf("log %d = %+v, want %+v", i, l, w)
		}
	}
	warn, err := c.ReadLogs(ctx, prefect.LogFilter{FlowRunIDs: []string{fx.run.ID}, MinLevel: prefect.LevelWarning, Sort: "TIMESTAMP_DESC"})
	if err != nil || len(warn) != 2 || warn[0].Message != logs[3].Message {
		t.Fatalf("warning logs %+v %v", warn, err)
	}

	ev := prefect.Event{Event: "prefect.worker.submitted-flow-run",
		Resource: map[string]string{"prefect.resource.id": "prefect.worker.azure-container-instance.w", "prefect.resource.name": "w"},
		Related:  []map[string]string{{"prefect.resource.id": "prefect.flow-run." + fx.run.ID, "prefect.resource.role": "flow-run"}}}
	if err := c.EmitEvents(ctx, []prefect.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if err := c.EmitEvents(ctx, []prefect.Event{{Event: "bad", Resource: map[string]string{}}}); err == nil {
		t.Fatal("an event without a resource id was accepted")
	}
}

func TestBlocksAndVariables(t *testing.T) {
	t.Parallel()
	s := prefecttest.Get(t)
	ctx := ctxFor(t)
	c := client(t, s)
	const slug = "azure-container-instance-credentials"
	name := unique("aci-creds")
	data := map[string]any{"client_id": "cid", "tenant_id": "tid", "client_secret": "s3cr3t-value"}
	created, err := c.CreateBlockDocument(ctx, slug, name, data)
	if err != nil {
		t.Fatal(err)
	}
	byID, err := c.ReadBlockDocument(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	byName, err := c.ReadBlockDocumentByName(ctx, slug, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*prefect.BlockDocument{byID, byName} {
		if b.ID != created.ID || b.Name != name || b.BlockTypeSlug() != slug || !reflect.DeepEqual(asJSON(t, b.Data), asJSON(t, data)) {
			t.Fatalf("block document %+v, want data %v with secrets in clear", b, data)
		}
	}
	if _, err := c.CreateBlockDocument(ctx, slug, name, data); !errors.Is(err, prefect.ErrConflict) {
		t.Fatalf("duplicate block: %v", err)
	}
	if _, err := c.ReadBlockDocumentByName(ctx, slug, unique("missing")); !errors.Is(err, prefect.ErrNotFound) {
		t.Fatalf("missing block: %v", err)
	}
	if _, err := c.ReadBlockDocument(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, prefect.ErrNotFound) {
		t.Fatalf("missing block id: %v", err)
	}

	// A credentials block referenced from a pool default is accepted by the
	// server's create-time validation (it resolves the reference).
	tmpl := defaultTemplate(t)
	tmpl["variables"].(map[string]any)["properties"].(map[string]any)["aci_credentials"].(map[string]any)["default"] =
		map[string]any{"$ref": map[string]any{"block_document_id": created.ID}}
	if _, err := c.CreateWorkPool(ctx, prefect.WorkPoolCreate{Name: unique("ref-pool"), Type: "azure-container-instance", BaseJobTemplate: tmpl}); err != nil {
		t.Fatalf("pool with a $ref default: %v", err)
	}

	vname := unique("var")
	value := map[string]any{"a": 1.5, "b": []any{"x", true, nil}, "s": "ü"}
	if _, err := c.CreateVariable(ctx, vname, value, []string{"t"}); err != nil {
		t.Fatal(err)
	}
	v, err := c.ReadVariableByName(ctx, vname)
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != vname || !reflect.DeepEqual(asJSON(t, v.Value), asJSON(t, value)) || !slices.Equal(v.Tags, []string{"t"}) {
		t.Fatalf("variable %+v", v)
	}
	if _, err := c.CreateVariable(ctx, vname, 1, nil); !errors.Is(err, prefect.ErrConflict) {
		t.Fatalf("duplicate variable: %v", err)
	}
	if _, err := c.ReadVariableByName(ctx, unique("missing")); !errors.Is(err, prefect.ErrNotFound) {
		t.Fatalf("missing variable: %v", err)
	}
}

// A Cloud-shaped API URL (…/api/accounts/A/workspaces/W) through a
// prefix-stripping proxy reaches the real server with its prefix intact.
func TestCloudShapedURL(t *testing.T) {
	t.Parallel()
	s := prefecttest.Get(t)
	ctx := ctxFor(t)
	target, err := url.Parse(s.APIURL)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "/api/accounts/3f0c7a52-0000-4000-8000-000000000001/workspaces/3f0c7a52-0000-4000-8000-000000000002"
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, prefix+"/") {
			http.Error(w, `{"detail":"outside the workspace"}`, http.StatusNotFound)
			return
		}
		rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = target.Scheme, target.Host
			pr.Out.URL.Path = "/api" + strings.TrimPrefix(pr.In.URL.Path, prefix)
			pr.Out.URL.RawPath = "/api" + strings.TrimPrefix(pr.In.URL.EscapedPath(), prefix)
		}}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	c, err := prefect.New(prefect.Config{APIURL: proxy.URL + prefix})
	if err != nil {
		t.Fatal(err)
	}
	pool := unique("cloud pool ü")
	if _, err := c.CreateWorkPool(ctx, prefect.WorkPoolCreate{Name: pool, Type: "azure-container-instance"}); err != nil {
		t.Fatal(err)
	}
	wp, err := c.ReadWorkPool(ctx, pool)
	if err != nil || wp.Name != pool {
		t.Fatalf("pool %+v %v", wp, err)
	}
	if err := c.SendWorkerHeartbeat(ctx, pool, "w", 30); err != nil {
		t.Fatal(err)
	}
}

func TestAuthAndCSRFServer(t *testing.T) {
	t.Parallel()
	s := authServer.Get(t)
	ctx := ctxFor(t)

	good := client(t, s)
	if _, err := good.ReadWorkPool(ctx, unique("missing")); !errors.Is(err, prefect.ErrNotFound) {
		t.Fatalf("authorised read of a missing pool: %v, want ErrNotFound", err)
	}
	if out, err := s.CLI(ctx, "work-pool", "ls"); err != nil {
		t.Fatalf("CLI with the auth string: %v\n%s", err, out)
	}
	// Mutations carry a CSRF token fetched on first use.
	pool := unique("csrf-pool")
	if _, err := good.CreateWorkPool(ctx, prefect.WorkPoolCreate{Name: pool, Type: "azure-container-instance"}); err != nil {
		t.Fatalf("create with CSRF on: %v", err)
	}
	if err := good.SendWorkerHeartbeat(ctx, pool, "w", 30); err != nil {
		t.Fatalf("heartbeat with CSRF on: %v", err)
	}
	noCSRF := prefect.ConfigFromEnv(s.Getenv)
	noCSRF.DisableCSRF = true
	nc, err := prefect.New(noCSRF)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.SendWorkerHeartbeat(ctx, pool, "w", 30); !errors.Is(err, prefect.ErrForbidden) || !strings.Contains(err.Error(), "CSRF") {
		t.Fatalf("mutation without a CSRF token: %v, want ErrForbidden about CSRF", err)
	}
	cases := []struct {
		name string
		cfg  prefect.Config
	}{
		{"no credentials", prefect.Config{}},
		{"wrong auth string", prefect.Config{AuthString: "admin:wrong-password-123"}},
		{"api key instead", prefect.Config{APIKey: "pnu_notakey0123456789"}},
	}
	for _, tc := range cases {
		tc.cfg.APIURL = s.APIURL
		c, err := prefect.New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ReadWorkPool(ctx, "any")
		if !errors.Is(err, prefect.ErrUnauthorized) {
			t.Errorf("%s: %v, want ErrUnauthorized", tc.name, err)
			continue
		}
		for _, secret := range []string{"wrong-password-123", "pnu_notakey0123456789", "correct-horse-battery"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q contains a secret", tc.name, err)
			}
		}
		if err := c.Health(ctx); err != nil {
			t.Errorf("%s: /health must not need auth: %v", tc.name, err)
		}
	}
}
