package worker_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// seq is every request sent ("> key") and answered ("< key"), in order.
	seq []string
}

var idInPath = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	_, route, _ := strings.Cut(r.URL.Path, "/api/")
	key := r.Method + " " + idInPath.ReplaceAllString(route, "{id}")
	c.mu.Lock()
	c.n[key]++
	c.seq = append(c.seq, "> "+key)
	c.mu.Unlock()
	resp, err := c.next.RoundTrip(r)
	c.mu.Lock()
	c.seq = append(c.seq, "< "+key)
	if err == nil && resp.StatusCode < 300 {
		c.ok[key]++
	}
	c.mu.Unlock()
	return resp, err
}

// index is where entry first comes in the sequence, -1 if nowhere.
func (c *countingTransport) index(entry string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Index(c.seq, entry)
}

func (c *countingTransport) counts() (all, ok map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n), maps.Clone(c.ok)
}

// The Prefect requests a burst of runs costs: runs found by one poll share
// one read of their deployment and one of their flow, and a run that was
// never final has its claim checked without reading its state history
// (the claim checks of concurrent submissions share their reads). The flow
// is asked for before any claim is answered, so that in a burst it does not
// queue at the server behind the claims.
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
	flow, claimed := ct.index("> GET flows/{id}"), ct.index("< POST flow_runs/{id}/set_state")
	if flow < 0 || claimed < 0 || flow > claimed {
		t.Errorf("the flow was asked for at %d, the first claim answered at %d: want the flow first", flow, claimed)
	}
	if n := all["GET flow_run_states/"]; n != 0 {
		t.Errorf("the state history of runs that never ran was read %d times; all: %v", n, all)
	}
}

// The ARM reads a burst of runs costs at the default pacing: provisioning
// is followed by the watcher's list rounds, not by polling each
// deployment; clean-up deletes the group and the deployment record without
// following either deletion to its end (the reconcile loop finds what
// fails later); and a run shorter than CheckFirst has its group read only
// when Prefect says it is final, for the exit code.
func TestARMReadsPerRun(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	dep := b.deploy("arm-reads", t.TempDir(), "flows.py:x", b.jobVars(standinCommand("-sleep", "4s")))
	const runs = 3
	ids := make([]string, runs)
	for i := range ids {
		ids[i] = b.runDeployment(dep, nil)
	}
	before := b.emu.Counters()
	b.startWorker(func(c *worker.Config) { c.CheckFirst = worker.DefaultCheckFirst })
	for _, id := range ids {
		if fr := b.waitFinal(id, 3*time.Minute); fr.StateType != prefect.StateCompleted {
			t.Errorf("run %s: %s (%s)", id, fr.StateType, stateMessage(fr))
		}
	}
	b.waitClean(time.Minute)
	c := b.emu.Counters()
	puts := c.Count("deployments.put") - before.Count("deployments.put")
	if puts != runs {
		t.Fatalf("%d deployments for %d runs", puts, runs)
	}
	deletes := c.Deletes() - before.Deletes()
	if deletes != 2*runs {
		t.Errorf("%d deletes for %d runs, want a group and a record each", deletes, runs)
	}
	// No long-running operation is followed: the watcher's lists show
	// provisioning, and deletions are not waited for.
	for _, r := range b.emu.RequestLog() {
		if r.Op == "operations.get" {
			t.Errorf("an operation was followed: GET %s", r.Path)
		}
	}
	// Each run's group is read for its exit code once its flow is final
	// (twice if the container was still exiting), and not otherwise.
	if gets := c.Count("containerGroups.get") - before.Count("containerGroups.get"); gets > 2*runs {
		t.Errorf("%d group reads for %d runs, want at most 2 each", gets, runs)
	}
	if n := c.Count("deployments.get") - before.Count("deployments.get"); n != 0 {
		t.Errorf("%d deployment reads, want none", n)
	}
	t.Logf("ARM reads: %d for %d runs; by operation: %v", c.Reads()-before.Reads(), runs, c.ByOp)
}

// adoptionListings records what the adoption passes' listings (the flow
// run filters by work pool) were answered: how many passes, and how many
// runs they returned in all.
type adoptionListings struct {
	next         http.RoundTripper
	passes, runs atomic.Int64
}

func (a *adoptionListings) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/flow_runs/filter") || r.Body == nil {
		return a.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := a.next.RoundTrip(r)
	if err != nil || !bytes.Contains(body, []byte(`"work_pools"`)) || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(answer))
	var runs []json.RawMessage
	if json.Unmarshal(answer, &runs) == nil {
		a.passes.Add(1)
		a.runs.Add(int64(len(runs)))
	}
	return resp, nil
}

// The adoption passes do not read the runs this worker watches: the server
// leaves them out of the listing, which at thousands of runs in flight
// cost it most of a core every pass.
func TestAdoptionLeavesOutWatchedRuns(t *testing.T) {
	t.Parallel()
	b := newBed(t, prefecttest.Get(t))
	b.createPool(nil)
	gate := filepath.Join(t.TempDir(), "gate")
	dep := b.deploy("watched", t.TempDir(), "flows.py:x", b.jobVars(standinCommand("-until-file", gate)))
	const runs = 3
	ids := make([]string, runs)
	for i := range ids {
		ids[i] = b.runDeployment(dep, nil)
	}
	al := &adoptionListings{next: http.DefaultTransport.(*http.Transport).Clone()}
	pcfg := prefect.ConfigFromEnv(b.s.Getenv)
	pcfg.HTTPClient = &http.Client{Transport: al}
	pf, err := prefect.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	b.startWorker(func(c *worker.Config) {
		c.Prefect = pf
		c.AdoptInterval = 200 * time.Millisecond
	})
	for _, id := range ids {
		b.waitRunning(id, 2*time.Minute)
	}
	from := al.passes.Load()
	waitFor(t, time.Minute, "adoption passes while the runs are watched", func() (bool, error) { return al.passes.Load() >= from+5, nil })
	if n := al.runs.Load(); n != 0 {
		t.Errorf("the adoption listings returned %d runs over %d passes, all of them watched by the worker; want none", n, al.passes.Load())
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if fr := b.waitFinal(id, 2*time.Minute); fr.StateType != prefect.StateCompleted {
			t.Errorf("run %s: %s (%s)", id, fr.StateType, stateMessage(fr))
		}
	}
	b.waitClean(time.Minute)
}
