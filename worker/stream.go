package worker

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aciworker/aciworker/aci"
)

// stdoutMu keeps lines of different runs' output from interleaving.
var stdoutMu sync.Mutex

// startStreaming copies a run's container output to the worker's stdout
// (stream_output), reading the log at the run's poll interval on the
// worker's clock. The streamer is the run's: only the run's goroutine
// starts and stops it, and tells it the container's name (streamNames)
// once known; it writes nothing but stdout.
func (w *Worker) startStreaming(ctx context.Context, r *run) {
	r.logFinal = make(chan bool)
	r.logDone = make(chan struct{})
	r.streamNames = make(chan string, 1)
	c, rg, group, every := r.tgt.client, r.tgt.rg, r.group, r.cfg.PollInterval
	red := w.redactorFor(r.id)
	go func(container string) {
		defer close(r.logDone)
		var f aci.LogFollower
		write := func(lines []aci.LogLine) {
			if len(lines) == 0 {
				return
			}
			var b strings.Builder
			for _, l := range lines {
				b.WriteString(l.Text)
				if !l.Partial {
					b.WriteByte('\n')
				}
			}
			stdoutMu.Lock()
			fmt.Fprint(w.cfg.Stdout, red.String(b.String()))
			stdoutMu.Unlock()
		}
		final := false
		for {
			select {
			case container = <-r.streamNames:
			default:
			}
			if container != "" {
				content, err := c.Logs(ctx, rg, group, container)
				if err == nil {
					if final {
						write(f.Finish(content))
					} else {
						write(f.Feed(content))
					}
				}
			}
			if final {
				return
			}
			t := w.cfg.Clock.NewTimer(every)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case fin, ok := <-r.logFinal:
				t.Stop()
				if !ok || !fin {
					return
				}
				final = true
			case <-t.C():
			}
		}
	}(r.container)
}

// stopStreaming ends the run's streamer, after one last full read of the
// log when final (the container ended), and waits for it.
func (w *Worker) stopStreaming(r *run, final bool) {
	if r.logDone == nil {
		return
	}
	select {
	case r.logFinal <- final:
	case <-r.logDone:
	}
	<-r.logDone
}
