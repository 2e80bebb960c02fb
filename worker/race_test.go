package worker

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/internal/backoff"
)

// The output streamer hears the container's name from the run's goroutine
// when a group read tells it: the name has no lock, and -race checks that
// nothing but the channel carries it. The streamer then reads that
// container's log, and its final read writes the output.
func TestStreamerLearnsTheContainerName(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var paths []string
	c := fakeAzure(t, func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		io.WriteString(rw, `{"content":"2026-01-01T00:00:00Z hello\n"}`)
	})
	out := &syncLog{}
	w := &Worker{cfg: Config{Stdout: out, Clock: backoff.System}, red: aci.NewRedactor()}
	r := &run{id: "r", group: "g", tgt: &target{client: c, rg: "rg"}, cfg: &jobConfig{PollInterval: time.Millisecond}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.startStreaming(ctx, r)
	r.noteContainer(&aci.Group{Containers: []aci.Container{{Name: "job"}}})
	w.stopStreaming(r, true)
	if r.container != "job" {
		t.Errorf("container %q, want job", r.container)
	}
	if !strings.Contains(out.String(), "hello") {
		t.Errorf("the final read wrote %q, want the container's output", out.String())
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range paths {
		if !strings.Contains(p, "/containers/job/logs") {
			t.Errorf("the streamer read %s, want the logs of container job", p)
		}
	}
}

// A kill in progress when the worker stops is not cut short by the stop:
// its delete goes on (the worker waits for its run goroutines), so that a
// cancellation is not left half done.
func TestKillOutlivesTheStop(t *testing.T) {
	t.Parallel()
	entered, stopped := make(chan struct{}), make(chan struct{})
	alive := make(chan bool, 1)
	c := fakeAzure(t, func(rw http.ResponseWriter, r *http.Request) {
		close(entered)
		<-stopped
		alive <- r.Context().Err() == nil
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusBadRequest)
		io.WriteString(rw, `{"error":{"code":"BadRequest","message":"no"}}`)
	})
	w := &Worker{cfg: Config{Stdout: io.Discard, Clock: backoff.System}, red: aci.NewRedactor(), log: slog.New(slog.DiscardHandler)}
	r := &run{id: "r", group: "g", tgt: &target{client: c, rg: "rg"}, cfg: &jobConfig{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool, 1)
	go func() { done <- w.kill(ctx, r) }()
	<-entered
	cancel()
	close(stopped)
	if !<-alive {
		t.Error("the worker's stop cancelled the kill's delete")
	}
	if <-done {
		t.Error("a kill whose delete failed reported success")
	}
	if r.phase != phaseCancelling {
		t.Errorf("phase %v, want cancelling", r.phase)
	}
}
