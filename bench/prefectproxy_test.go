package bench

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEndpointOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"/api/flow_runs/3f2b1c4d-1111-2222-3333-444455556666/set_state", "/api/flow_runs/{id}/set_state"},
		{"/api/work_pools/bench-1-go-300/get_scheduled_flow_runs", "/api/work_pools/{name}/get_scheduled_flow_runs"},
		{"/api/work_pools/filter", "/api/work_pools/filter"},
		{"/api/work_pools/p/queues/default", "/api/work_pools/{name}/queues/{name}"},
		{"/api/flow_runs/filter", "/api/flow_runs/filter"},
	} {
		if got := endpointOf(tc.in); got != tc.want {
			t.Errorf("endpointOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The proxy forwards to the server's API path and counts what passed, by
// endpoint; a snapshot difference is what a row reports.
func TestCountingProxy(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		paths []string
	)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.RequestURI())
		mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "from upstream")
	}))
	defer upstream.Close()
	p, err := startCountingProxy(upstream.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	if !strings.HasSuffix(p.url, "/api") || strings.Contains(p.url, upstream.URL) {
		t.Fatalf("proxy URL %q", p.url)
	}
	get := func(path string) {
		resp, err := http.Post(p.url+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTeapot || string(body) != "from upstream" {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
		}
	}
	get("/flow_runs/filter")
	before := p.snapshot()
	since := time.Now()
	get("/flow_runs/3f2b1c4d-1111-2222-3333-444455556666/set_state?x=1")
	get("/flow_runs/filter")
	get("/flow_runs/filter")
	d := p.snapshot().sub(before)
	if d.total() != 3 || d["POST /api/flow_runs/filter"] != 2 || d["POST /api/flow_runs/{id}/set_state"] != 1 {
		t.Errorf("counts since the snapshot: %v", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "POST /api/flow_runs/3f2b1c4d-1111-2222-3333-444455556666/set_state?x=1"; paths[1] != want {
		t.Errorf("upstream saw %q, want %q", paths[1], want)
	}
	if s := d.String(); !strings.HasPrefix(s, "     2 POST /api/flow_runs/filter\n") {
		t.Errorf("listing:\n%s", s)
	}
	// The timeline has the requests since then, with the server's status
	// and the flow run a path names.
	lines := strings.Split(p.timelineSince(since), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[0], "\t418\tPOST /api/flow_runs/{id}/set_state\t3f2b1c4d-1111-2222-3333-444455556666") ||
		!strings.HasSuffix(lines[1], "\t418\tPOST /api/flow_runs/filter\t") {
		t.Errorf("timeline:\n%s", strings.Join(lines, "\n"))
	}
}
