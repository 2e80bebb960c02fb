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
}

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
			p.count(r.Method, r.URL.Path)
			rp.ServeHTTP(w, r)
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

func (p *countingProxy) count(method, path string) {
	key := method + " " + endpointOf(path)
	p.mu.Lock()
	p.counts[key]++
	p.mu.Unlock()
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
