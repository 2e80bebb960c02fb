package worker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aciworker/aciworker/prefect"
)

// fakePrefect serves every request with handle and counts the requests.
func fakePrefect(t *testing.T, handle http.HandlerFunc) (*prefect.Client, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		n.Add(1)
		handle(rw, r)
	}))
	t.Cleanup(srv.Close)
	pf, err := prefect.New(prefect.Config{APIURL: srv.URL + "/api", MaxRetries: -1, DisableCSRF: true})
	if err != nil {
		t.Fatal(err)
	}
	return pf, &n
}

// A poll that Prefect does not answer keeps the worker unhealthy: only a
// successful poll within 30 query intervals counts, as in Prefect.
func TestHealthNeedsASuccessfulPoll(t *testing.T) {
	t.Parallel()
	var up atomic.Bool
	pf, calls := fakePrefect(t, func(rw http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(rw, `{"detail":"down"}`, http.StatusServiceUnavailable)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.Write([]byte(`[]`))
	})
	w, err := New(Config{Pool: "p", Prefect: pf, QueryInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	close(w.synced)
	// The worker started 29 query intervals ago (Run stores its start).
	start := time.Now().Add(-29 * time.Second)
	w.lastPoll.Store(start.UnixNano())
	if !w.healthy(time.Now()) {
		t.Fatal("unhealthy within 30 query intervals of the start")
	}
	if err := w.pollOnce(context.Background()); err == nil {
		t.Fatal("a poll of a server answering 503 succeeded")
	}
	if calls.Load() == 0 {
		t.Fatal("the poll did not reach the server")
	}
	if w.healthy(start.Add(31 * time.Second)) {
		t.Error("a failed poll counted as a poll for /health")
	}
	up.Store(true)
	if err := w.pollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !w.healthy(time.Now().Add(29 * time.Second)) {
		t.Error("unhealthy within 30 query intervals of a successful poll")
	}
}
