// Package metrics holds aciworker's Prometheus metrics and the adapters
// that feed them: an azcore pipeline policy for ARM requests, an
// http.RoundTripper for Prefect requests, and the worker's observer
// methods. The names are a contract (dashboards are shared), so they are
// spelled out here once.
//
// aci and prefect know nothing of Prometheus: they take a policy and a
// transport wrapper. The worker calls an interface it declares; *Metrics
// satisfies it.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/aciworker/aciworker/internal/httpserve"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one registry and every aciworker metric in it. Safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	runsSubmitted    prometheus.Counter
	runsFinished     *prometheus.CounterVec
	submission       prometheus.Histogram
	azureRequests    *prometheus.CounterVec
	azureThrottled   prometheus.Counter
	prefectRequests  *prometheus.CounterVec
	watchRound       prometheus.Histogram
	reconcile        prometheus.Histogram
	reconcileRemoved *prometheus.CounterVec
	eventsDropped    prometheus.Counter
}

// New registers the metrics, with the Go runtime and process collectors.
// inFlight, when not nil, is read at each scrape for
// aciworker_flow_runs_in_flight (the worker owns that count).
func New(inFlight func() int) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		runsSubmitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aciworker_flow_runs_submitted_total",
			Help: "Flow runs whose container group deployment Azure accepted.",
		}),
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aciworker_flow_runs_finished_total",
			Help: "Flow runs submitted or adopted whose final state the worker has learnt (from Prefect's event stream or a watch round, before clean-up), once each, by Prefect state type in lower case.",
		}, []string{"state"}),
		submission: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "aciworker_submission_seconds",
			Help:    "From a flow run's scheduled start to Azure accepting its deployment.",
			Buckets: []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600},
		}),
		azureRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aciworker_azure_requests_total",
			Help: "Azure Resource Manager request attempts, retries included, by method and status code (\"error\" when no answer came).",
		}, []string{"method", "code"}),
		azureThrottled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aciworker_azure_throttled_total",
			Help: "Azure Resource Manager requests answered 429 Too Many Requests.",
		}),
		prefectRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aciworker_prefect_requests_total",
			Help: "Prefect API request attempts, retries included, by status code (\"error\" when no answer came).",
		}, []string{"code"}),
		watchRound: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "aciworker_watch_round_seconds",
			Help:    "Duration of one round of watching every in-flight run.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
		}),
		reconcile: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "aciworker_reconcile_seconds",
			Help:    "Duration of one reconcile pass over every resource group.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 10),
		}),
		reconcileRemoved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aciworker_reconcile_removed_total",
			Help: "Leftovers reconcile removed, by kind: container groups (\"group\") and deployment records (\"record\").",
		}, []string{"kind"}),
		eventsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aciworker_events_dropped_total",
			Help: "Prefect events the worker gave up sending.",
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.runsSubmitted, m.runsFinished, m.submission, m.azureRequests, m.azureThrottled,
		m.prefectRequests, m.watchRound, m.reconcile, m.reconcileRemoved, m.eventsDropped,
	)
	if inFlight != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "aciworker_flow_runs_in_flight",
			Help: "Flow runs the worker is submitting or watching whose final state it has not yet learnt; a run leaves when counted in aciworker_flow_runs_finished_total, though it holds its --limit slot until its clean-up ends.",
		}, func() float64 { return float64(inFlight()) }))
	}
	// Both kinds of removal show as 0 before the first one.
	m.reconcileRemoved.WithLabelValues("group")
	m.reconcileRemoved.WithLabelValues("record")
	return m
}

// Registry is where the metrics live, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// RunSubmitted counts a run whose deployment Azure accepted, sinceScheduled
// after its scheduled start (runs fetched ahead of time count 0).
func (m *Metrics) RunSubmitted(sinceScheduled time.Duration) {
	m.runsSubmitted.Inc()
	m.submission.Observe(max(sinceScheduled, 0).Seconds())
}

// RunFinished counts a run that ended in stateType (e.g. "COMPLETED").
func (m *Metrics) RunFinished(stateType string) {
	m.runsFinished.WithLabelValues(strings.ToLower(stateType)).Inc()
}

// WatchRound records how long a watch round took.
func (m *Metrics) WatchRound(d time.Duration) { m.watchRound.Observe(d.Seconds()) }

// Reconciled records how long a reconcile pass took.
func (m *Metrics) Reconciled(d time.Duration) { m.reconcile.Observe(d.Seconds()) }

// ReconcileRemoved counts a leftover removed: kind is "group" or "record".
func (m *Metrics) ReconcileRemoved(kind string) { m.reconcileRemoved.WithLabelValues(kind).Inc() }

// EventDropped counts a Prefect event given up on.
func (m *Metrics) EventDropped() { m.eventsDropped.Inc() }

// AzurePolicy counts every ARM request attempt; put it among the client's
// per-retry policies so that retried throttling is seen.
func (m *Metrics) AzurePolicy() policy.Policy { return azurePolicy{m} }

type azurePolicy struct{ m *Metrics }

func (p azurePolicy) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	code := "error"
	if resp != nil {
		code = strconv.Itoa(resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			p.m.azureThrottled.Inc()
		}
	}
	p.m.azureRequests.WithLabelValues(req.Raw().Method, code).Inc()
	return resp, err
}

// WrapPrefectTransport counts every Prefect API request next carries.
func (m *Metrics) WrapPrefectTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return prefectTransport{m: m, next: next}
}

type prefectTransport struct {
	m    *Metrics
	next http.RoundTripper
}

func (t prefectTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	code := "error"
	if resp != nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.m.prefectRequests.WithLabelValues(code).Inc()
	return resp, err
}

// Serve serves h at /metrics on addr until ctx ends (--metrics-addr). It
// returns the address it listens on (port 0 picks one) once listening.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (string, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return httpserve.Serve(ctx, "metrics", addr, mux, log)
}
