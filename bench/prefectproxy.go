package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// countingProxy sits between one worker and the Prefect server and counts
// the worker's requests, so that "Prefect requests per run" is measured the
// same way for both workers and does not depend on either one's own
// accounting. Only the worker goes through it: the flow runs' containers are
// pointed straight at the server (see runEnv).
type countingProxy struct {
	srv  *http.Server
	url  string // the proxy's API URL, what the worker gets as PREFECT_API_URL
	done chan struct{}

	mu     sync.Mutex
	counts map[string]int // "METHOD /path/with/{id}" -> requests
	// timeline is every request with when it came and how long the server
	// took over it: where a burst's time goes, as the server saw it.
	timeline []proxiedRequest
}

// proxiedRequest is one request through the proxy.
type proxiedRequest struct {
	at       time.Time
	took     time.Duration
	status   int
	endpoint string
	run      string // the flow run id in the path, if any
}

// statusRecorder keeps the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets the reverse proxy flush through the recorder.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// startCountingProxy forwards every request to apiURL (".../api").
func startCountingProxy(apiURL string) (*countingProxy, error) {
	target, err := url.Parse(apiURL)
	if err != nil {
		return nil, fmt.Errorf("prefect proxy: parse %q: %w", apiURL, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("prefect proxy: listen: %w", err)
	}
	p := &countingProxy{done: make(chan struct{}), counts: map[string]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
			pr.Out.Host = target.Host
		},
		// The server's own errors pass through unchanged; a proxy error
		// (server down) is a 502 the worker retries like any other.
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "bench proxy: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := p.count(r.Method, r.URL.Path)
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			at := time.Now()
			rp.ServeHTTP(rec, r)
			p.mu.Lock()
			p.timeline = append(p.timeline, proxiedRequest{at: at, took: time.Since(at), status: rec.status, endpoint: key, run: flowRunOf(r.URL.Path)})
			p.mu.Unlock()
		}),
		ReadHeaderTimeout: 30 * time.Second,
	}
	p.url = "http://" + l.Addr().String() + target.Path
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the worker's log shows the failed connections
		}
	}()
	return p, nil
}

func (p *countingProxy) count(method, path string) string {
	key := method + " " + endpointOf(path)
	p.mu.Lock()
	p.counts[key]++
	p.mu.Unlock()
	return key
}

// timelineSince writes the requests that came from start on, one line each:
// seconds since start, seconds the server took, status, endpoint, and the
// flow run the request is about when its path names one (empty otherwise),
// so that one run's requests can be followed through a burst.
func (p *countingProxy) timelineSince(start time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, q := range p.timeline {
		if q.at.Before(start) {
			continue
		}
		fmt.Fprintf(&b, "%.3f\t%.3f\t%d\t%s\t%s\n", q.at.Sub(start).Seconds(), q.took.Seconds(), q.status, q.endpoint, q.run)
	}
	return b.String()
}

// snapshot is a copy of the counts so far.
func (p *countingProxy) snapshot() requestCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(requestCounts, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

func (p *countingProxy) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	<-p.done
}

// requestCounts are requests by endpoint.
type requestCounts map[string]int

func (c requestCounts) total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// sub is c minus an earlier snapshot.
func (c requestCounts) sub(before requestCounts) requestCounts {
	out := requestCounts{}
	for k, v := range c {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// String lists the endpoints, most requested first.
func (c requestCounts) String() string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c[a] != c[b] {
			return c[b] - c[a]
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%6d %s\n", c[k], k)
	}
	return b.String()
}

// flowRunOf is the flow run id a request path names (/flow_runs/{id}/...),
// or "".
func flowRunOf(path string) string {
	_, rest, ok := strings.Cut(path, "/flow_runs/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	if len(id) != 36 || !uuidRE.MatchString(id) {
		return ""
	}
	return id
}

var uuidRE = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// endpointOf turns a request path into its endpoint: ids become {id}, and
// names of pools and queues in the work_pools paths become {name}.
func endpointOf(path string) string {
	path = uuidRE.ReplaceAllString(path, "{id}")
	parts := strings.Split(path, "/")
	for i := 1; i < len(parts); i++ {
		switch parts[i-1] {
		case "work_pools", "queues", "name":
			if parts[i] != "filter" && parts[i] != "" && parts[i] != "{id}" {
				parts[i] = "{name}"
			}
		}
	}
	return strings.Join(parts, "/")
}
