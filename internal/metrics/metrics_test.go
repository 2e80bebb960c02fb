package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/aciworker/aciworker/internal/metrics/metricstest"
)

func TestWorkerMetrics(t *testing.T) {
	t.Parallel()
	inFlight := 3
	m := New(func() int { return inFlight })
	m.RunSubmitted(1500 * time.Millisecond)
	m.RunSubmitted(-5 * time.Second) // fetched ahead of its start: counts 0
	m.RunFinished("COMPLETED")
	m.RunFinished("COMPLETED")
	m.RunFinished("Failed")
	m.WatchRound(20 * time.Millisecond)
	m.Reconciled(time.Second)
	m.ReconcileRemoved("group")
	m.EventDropped()
	got := metricstest.Scrape(t, m.Handler())
	want := map[string]string{
		"aciworker_flow_runs_submitted_total":                   "2",
		`aciworker_flow_runs_finished_total{state="completed"}`: "2",
		`aciworker_flow_runs_finished_total{state="failed"}`:    "1",
		"aciworker_flow_runs_in_flight":                         "3",
		"aciworker_submission_seconds_count":                    "2",
		"aciworker_submission_seconds_sum":                      "1.5",
		`aciworker_submission_seconds_bucket{le="0.5"}`:         "1",
		"aciworker_watch_round_seconds_count":                   "1",
		"aciworker_reconcile_seconds_count":                     "1",
		`aciworker_reconcile_removed_total{kind="group"}`:       "1",
		`aciworker_reconcile_removed_total{kind="record"}`:      "0",
		"aciworker_events_dropped_total":                        "1",
		"aciworker_azure_throttled_total":                       "0",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, k := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if got[k] == "" {
			t.Errorf("no %s: the runtime and process collectors are missing", k)
		}
	}
}

type fakeTransporter struct{ codes []int }

func (f *fakeTransporter) Do(req *http.Request) (*http.Response, error) {
	code := f.codes[0]
	f.codes = f.codes[1:]
	return &http.Response{StatusCode: code, Request: req, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}"))}, nil
}

// The Azure policy counts each attempt by method and code, and 429s apart.
func TestAzurePolicy(t *testing.T) {
	t.Parallel()
	m := New(nil)
	tr := &fakeTransporter{codes: []int{429, 200, 404}}
	pl := runtime.NewPipeline("test", "v1", runtime.PipelineOptions{PerRetry: []policy.Policy{m.AzurePolicy()}},
		&policy.ClientOptions{Transport: tr, Retry: policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond}})
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		req, err := runtime.NewRequest(context.Background(), method, "https://arm.example.test/x")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := pl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := metricstest.Scrape(t, m.Handler())
	want := map[string]string{
		`aciworker_azure_requests_total{code="429",method="GET"}`:    "1",
		`aciworker_azure_requests_total{code="200",method="GET"}`:    "1",
		`aciworker_azure_requests_total{code="404",method="DELETE"}`: "1",
		"aciworker_azure_throttled_total":                            "1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestPrefectTransportAndServe(t *testing.T) {
	t.Parallel()
	m := New(nil)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	hc := &http.Client{Transport: m.WrapPrefectTransport(nil)}
	for _, p := range []string{"/ok", "/missing", "/ok"} {
		resp, err := hc.Get(api.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if _, err := hc.Get("http://127.0.0.1:1/refused"); err == nil {
		t.Fatal("a request to a closed port succeeded")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := Serve(ctx, "127.0.0.1:0", m.Handler(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`aciworker_prefect_requests_total{code="200"} 2`,
		`aciworker_prefect_requests_total{code="404"} 1`,
		`aciworker_prefect_requests_total{code="error"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
