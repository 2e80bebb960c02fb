// Package profiling serves the Go runtime's profiles (net/http/pprof) on
// an address of their own (--pprof-addr), for finding where a worker's
// time goes under load. Nothing is served, and no block or mutex events
// are recorded, unless it is asked for.
package profiling

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"runtime"

	"github.com/aciworker/aciworker/internal/httpserve"
)

// BlockRate is the block profile's rate while profiles are served: one
// sample per 10 µs spent blocked on average, so that the waits that
// matter (channel, select, lock and sleep waits of milliseconds) are all
// recorded at little cost.
const BlockRate = 10_000

// MutexFraction samples one contended lock event in MutexFraction.
const MutexFraction = 100

// Serve turns block and mutex profiling on and serves the profiles at
// /debug/pprof/ on addr until ctx ends. A profile asked with ?seconds=N
// (block, mutex, heap, goroutine, ...) is the difference over those N
// seconds, and /debug/pprof/profile?seconds=N is a CPU profile of them.
func Serve(ctx context.Context, addr string, log *slog.Logger) (string, error) {
	runtime.SetBlockProfileRate(BlockRate)
	runtime.SetMutexProfileFraction(MutexFraction)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return httpserve.Serve(ctx, "profile", addr, mux, log)
}
