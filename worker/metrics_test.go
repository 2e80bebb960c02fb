package worker_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/freeport"
	"github.com/aciworker/aciworker/internal/metrics"
	"github.com/aciworker/aciworker/internal/metrics/metricstest"
	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/worker"
)

// meteredWorker starts a worker wired to metrics as `aciworker start
// --with-healthcheck` wires it, and returns the URL of its /metrics.
func (b *bed) meteredWorker(mod ...func(*worker.Config)) (*worker.Worker, string) {
	b.t.Helper()
	var w atomic.Pointer[worker.Worker]
	m := metrics.New(func() int {
		if w := w.Load(); w != nil {
			return w.Unfinished()
		}
		return 0
	})
	pcfg := prefect.ConfigFromEnv(b.s.Getenv)
	pcfg.WrapTransport = m.WrapPrefectTransport
	pf, err := prefect.New(pcfg)
	if err != nil {
		b.t.Fatal(err)
	}
	port, err := freeport.Get()
	if err != nil {
		b.t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	started, _, _ := b.startWorker(append([]func(*worker.Config){func(c *worker.Config) {
		c.Prefect = pf
		c.Observer = m
		c.MetricsHandler = m.Handler()
		c.HealthAddr = addr
		c.Azure.Policies = append(c.Azure.Policies, m.AzurePolicy())
	}}, mod...)...)
	w.Store(started)
	return started, "http://" + addr + "/metrics"
}

func scrapeURL(url string) (map[string]string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return metricstest.Parse(string(body)), nil
}

// waitMetrics polls url until every sample in want has its value, and
// returns the last scrape.
func waitMetrics(t *testing.T, url string, d time.Duration, want map[string]string) map[string]string {
	t.Helper()
	var got map[string]string
	waitFor(t, d, "metrics "+fmt.Sprint(want), func() (bool, error) {
		var err error
		if got, err = scrapeURL(url); err != nil {
			return false, err
		}
		var off []string
		for k, v := range want {
			if got[k] != v {
				off = append(off, fmt.Sprintf("%s=%q", k, got[k]))
			}
		}
		sort.Strings(off)
		if len(off) > 0 {
			return false, fmt.Errorf("not yet: %s", strings.Join(off, ", "))
		}
		return true, nil
	})
	return got
}

// samples are the samples of a metric, by labels.
func samples(got map[string]string, name string) map[string]string {
	out := map[string]string{}
	for k, v := range got {
		if labels, ok := strings.CutPrefix(k, name+"{"); ok {
			out["{"+labels] = v
		}
	}
	return out
}

// The metrics after real runs, read at /metrics beside /health as an
// operator's Prometheus reads them: two flows that return and one that
// raises, through the real engine.
func TestMetricsAfterRealRuns(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dir := writeFlows(t, helloFlows)
	jv := b.jobVars(b.engineCommand())
	hello := b.deploy("hello", dir, "flows.py:hello", jv)
	boom := b.deploy("boom", dir, "flows.py:boom", jv)
	ids := []string{b.runDeployment(hello, nil), b.runDeployment(hello, nil), b.runDeployment(boom, nil)}
	_, url := b.meteredWorker()
	for _, id := range ids {
		b.waitFinal(id, 4*time.Minute)
	}
	b.waitClean(2 * time.Minute)
	got := waitMetrics(t, url, time.Minute, map[string]string{
		"aciworker_flow_runs_submitted_total":                   "3",
		`aciworker_flow_runs_finished_total{state="completed"}`: "2",
		`aciworker_flow_runs_finished_total{state="failed"}`:    "1",
		"aciworker_flow_runs_in_flight":                         "0",
		"aciworker_submission_seconds_count":                    "3",
		"aciworker_azure_throttled_total":                       "0",
	})
	// What the emulator answers, as Azure does: a deployment PUT is
	// created (201), reads are 200, the removals of a group and of a
	// deployment record are accepted (202) and followed to their end.
	azure := samples(got, "aciworker_azure_requests_total")
	for _, k := range []string{`{code="201",method="PUT"}`, `{code="200",method="GET"}`, `{code="202",method="DELETE"}`} {
		if n, _ := strconv.Atoi(azure[k]); n < 1 {
			t.Errorf("aciworker_azure_requests_total%s = %q, want at least 1; all: %v", k, azure[k], azure)
		}
	}
	for k := range azure {
		if !strings.Contains(k, `code="20`) && !strings.Contains(k, `code="404"`) {
			t.Errorf("aciworker_azure_requests_total%s = %s: an answer the emulator should not give here", k, azure[k])
		}
	}
	// Prefect: API calls answered 200/201, and the event stream's upgrade (101).
	pf := samples(got, "aciworker_prefect_requests_total")
	for _, k := range []string{`{code="200"}`, `{code="201"}`, `{code="101"}`} {
		if n, _ := strconv.Atoi(pf[k]); n < 1 {
			t.Errorf("aciworker_prefect_requests_total%s = %q, want at least 1; all: %v", k, pf[k], pf)
		}
	}
	if got["go_goroutines"] == "" || got["aciworker_watch_round_seconds_count"] == "" || got["aciworker_watch_round_seconds_count"] == "0" {
		t.Errorf("runtime or watch-round metrics missing: go_goroutines=%q watch_round_count=%q", got["go_goroutines"], got["aciworker_watch_round_seconds_count"])
	}
}

// A run's final state is known when Prefect's event stream announces it,
// not at the next watch round: with rounds an hour apart, the runs are
// counted finished and leave the in-flight gauge all the same.
func TestFinalStatesFromTheEventStream(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dir := t.TempDir()
	ok := b.deploy("ok", dir, "flows.py:x", b.jobVars(standinCommand()))
	bad := b.deploy("bad", dir, "flows.py:x", b.jobVars(standinCommand("-final", "FAILED")))
	ids := []string{b.runDeployment(ok, nil), b.runDeployment(bad, nil)}
	w, url := b.meteredWorker(func(c *worker.Config) { c.WatchInterval = time.Hour })
	for _, id := range ids {
		b.waitFinal(id, 3*time.Minute)
	}
	waitMetrics(t, url, time.Minute, map[string]string{
		"aciworker_flow_runs_submitted_total":                   "2",
		`aciworker_flow_runs_finished_total{state="completed"}`: "1",
		`aciworker_flow_runs_finished_total{state="failed"}`:    "1",
		"aciworker_flow_runs_in_flight":                         "0",
	})
	if n := w.Unfinished(); n != 0 {
		t.Fatalf("Unfinished() = %d after both runs were announced final", n)
	}
}
