package worker_test

import (
	"maps"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/worker"
)

// countingTransport counts a client's requests by method and route, ids
// replaced by {id}: all of them, and those the server answered with
// success (a busy server's 503s make the client try again).
type countingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
	ok   map[string]int
}

var idInPath = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	_, route, _ := strings.Cut(r.URL.Path, "/api/")
	key := r.Method + " " + idInPath.ReplaceAllString(route, "{id}")
	c.mu.Lock()
	c.n[key]++
	c.mu.Unlock()
	resp, err := c.next.RoundTrip(r)
	if err == nil && resp.StatusCode < 300 {
		c.mu.Lock()
		c.ok[key]++
		c.mu.Unlock()
	}
	return resp, err
}

func (c *countingTransport) counts() (all, ok map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n), maps.Clone(c.ok)
}

// The Prefect requests a burst of runs costs: runs found by one poll share
// one read of their deployment and one of their flow, and a run that was
// never final has its claim checked without reading its state history
// (the claim checks of concurrent submissions share their reads).
func TestPrefectReadsSharedByAPoll(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dep := b.deploy("shared-reads", t.TempDir(), "flows.py:x", b.jobVars(standinCommand()))
	const runs = 4
	ids := make([]string, runs)
	for i := range ids {
		ids[i] = b.runDeployment(dep, nil)
	}
	ct := &countingTransport{next: http.DefaultTransport.(*http.Transport).Clone(), n: map[string]int{}, ok: map[string]int{}}
	pcfg := prefect.ConfigFromEnv(b.s.Getenv)
	pcfg.HTTPClient = &http.Client{Transport: ct}
	pf, err := prefect.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	// Runs created before the worker starts all come in its first poll.
	b.startWorker(func(c *worker.Config) { c.Prefect = pf })
	for _, id := range ids {
		if fr := b.waitFinal(id, 3*time.Minute); fr.StateType != prefect.StateCompleted {
			t.Errorf("run %s: %s (%s)", id, fr.StateType, stateMessage(fr))
		}
	}
	b.waitClean(time.Minute)
	all, ok := ct.counts()
	for route, want := range map[string]int{"GET deployments/{id}": 1, "GET flows/{id}": 1} {
		if ok[route] != want {
			t.Errorf("%s: %d answered for %d runs, want %d; all: %v", route, ok[route], runs, want, all)
		}
	}
	if n := all["GET flow_run_states/"]; n != 0 {
		t.Errorf("the state history of runs that never ran was read %d times; all: %v", n, all)
	}
}
