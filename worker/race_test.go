package worker

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aciworker/aciworker/aci"
)

// The output streamer reads the run's container name while the watcher
// (or provisioning) notes it from a group read: under -race this failed
// before the name had a lock.
func TestStreamingWhileContainerIsNoted(t *testing.T) {
	t.Parallel()
	c := fakeAzure(t, func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		io.WriteString(rw, `{"content":"2026-01-01T00:00:00Z hello\n"}`)
	})
	w := &Worker{cfg: Config{Stdout: io.Discard}, red: newRedactor()}
	r := &run{id: "r", group: "g", tgt: &target{client: c, rg: "rg"}, cfg: &jobConfig{PollInterval: time.Millisecond}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The streamer's first read of the name and this write have no order
	// between them: -race reports them however they interleave.
	w.startStreaming(ctx, r)
	r.noteContainer(&aci.Group{Containers: []aci.Container{{Name: "job"}}})
	w.stopStreaming(r, true)
	if got := r.containerName(); got != "job" {
		t.Errorf("container %q, want job", got)
	}
}
