package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"
)

// serveHealth serves Prefect's worker health check: 200 {"message":"OK"}
// while the worker has polled successfully within 30 query intervals, else
// 503.
func (w *Worker) serveHealth(ctx context.Context) (*http.Server, error) {
	ln, err := net.Listen("tcp", w.cfg.HealthAddr)
	if err != nil {
		return nil, fmt.Errorf("health check server on %s: %w", w.cfg.HealthAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		if w.healthy(w.now()) {
			rw.WriteHeader(http.StatusOK)
			json.NewEncoder(rw).Encode(map[string]string{"message": "OK"})
			return
		}
		rw.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(rw).Encode(map[string]string{"message": "Worker may be unresponsive at this time"})
	})
	if w.cfg.MetricsHandler != nil {
		mux.Handle("GET /metrics", w.cfg.MetricsHandler)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	w.log.Info("health check serving", "addr", ln.Addr().String())
	go func() { <-ctx.Done(); srv.Close() }()
	return srv, nil
}

// healthy mirrors is_worker_still_polling: the last successful poll is at
// most 30 query intervals old. Before the first one the worker's start
// counts (Run sets it), as Prefect's __init__ does.
func (w *Worker) healthy(now time.Time) bool {
	return now.Sub(time.Unix(0, w.lastPoll.Load())) <= 30*w.cfg.QueryInterval
}
