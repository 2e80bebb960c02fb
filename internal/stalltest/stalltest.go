// Package stalltest is an HTTPS server for tests that takes connections
// and requests and never answers them, as an endpoint behind a broken
// proxy does.
package stalltest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Server never answers. Its Transport sends requests to it and records
// them on the client's side: under load a short try may end before the
// server has read it.
type Server struct {
	URL string

	srv  *httptest.Server
	mu   sync.Mutex
	reqs []string
}

// New starts a server that lives until the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	quit := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		// Hijacked, the connection never gets an answer, not even the
		// empty one a returning handler would send.
		conn, _, err := rw.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		<-quit
	}))
	t.Cleanup(func() {
		close(quit)
		srv.Close()
	})
	return &Server{URL: srv.URL, srv: srv}
}

// Host is the server's host:port.
func (s *Server) Host() string { return strings.TrimPrefix(s.URL, "https://") }

// Do sends a request to the server (trusting its certificate) and records
// it as "METHOD /path".
func (s *Server) Do(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	return s.srv.Client().Do(r)
}

// Requests are the requests sent through Do, oldest first.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

// Count is how many requests had method and a path containing pathPart.
func (s *Server) Count(method, pathPart string) int {
	n := 0
	for _, r := range s.Requests() {
		if strings.HasPrefix(r, method+" ") && strings.Contains(r, pathPart) {
			n++
		}
	}
	return n
}
