package worker

import (
	"context"
	"io"
	"log/slog"
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
	w := &Worker{cfg: Config{Stdout: io.Discard}, red: aci.NewRedactor()}
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

// A kill in progress when the worker stops is joined: Run does not return
// while a goroutine still deletes a group.
func TestKillsAreJoined(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{}, 1)
	c := fakeAzure(t, func(_ http.ResponseWriter, r *http.Request) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-r.Context().Done() // Azure never answers the delete
	})
	w := &Worker{cfg: Config{Stdout: io.Discard}, red: aci.NewRedactor(), log: slog.New(slog.DiscardHandler)}
	wt := newWatcher(w)
	wd := &watched{r: &run{id: "r", group: "g", tgt: &target{client: c, rg: "rg"}, cfg: &jobConfig{}}}
	ctx, cancel := context.WithCancel(context.Background())
	wt.startKill(ctx, wd)
	<-entered
	cancel()
	wt.waitKills()
	if wd.killing.Load() {
		t.Error("waitKills returned while the kill was still in progress")
	}
}
