package worker

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/aciworker/aciworker/internal/httpserve"
)

// serveHealth serves Prefect's worker health check: 200 {"message":"OK"}
// while the worker has polled successfully within 30 query intervals, else
// 503.
func (w *Worker) serveHealth(ctx context.Context) error {
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
	addr, err := httpserve.Serve(ctx, "health check", w.cfg.HealthAddr, mux, w.log)
	if err != nil {
		return err
	}
	w.log.Info("health check serving", "addr", addr)
	return nil
}

// healthy mirrors is_worker_still_polling: the last successful poll is at
// most 30 query intervals old. Before the first one the worker's start
// counts (Run sets it), as Prefect's __init__ does.
func (w *Worker) healthy(now time.Time) bool {
	return now.Sub(time.Unix(0, w.lastPoll.Load())) <= 30*w.cfg.QueryInterval
}
