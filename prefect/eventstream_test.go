package prefect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aciworker/aciworker/internal/backoff"
)

// streamServer is a scripted /events/out: each connection is handed to
// the next script (the last one repeats), after the auth and filter
// messages have been read and recorded.
type streamServer struct {
	t       *testing.T
	mu      sync.Mutex
	scripts []func(ctx context.Context, c *websocket.Conn)
	conns   int
	auths   []map[string]any
	filters []map[string]any
	headers []http.Header
	srv     *httptest.Server
}

func newStreamServer(t *testing.T, scripts ...func(ctx context.Context, c *websocket.Conn)) *streamServer {
	s := &streamServer{t: t, scripts: scripts}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *streamServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/events/out" {
		http.NotFound(w, r)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"prefect"}})
	if err != nil {
		return
	}
	defer c.CloseNow()
	s.mu.Lock()
	script := s.scripts[min(s.conns, len(s.scripts)-1)]
	s.conns++
	s.headers = append(s.headers, r.Header.Clone())
	s.mu.Unlock()
	ctx := r.Context()
	var auth map[string]any
	if !readInto(ctx, c, &auth) {
		return
	}
	s.mu.Lock()
	s.auths = append(s.auths, auth)
	s.mu.Unlock()
	script(ctx, c)
}

func readInto(ctx context.Context, c *websocket.Conn, v any) bool {
	_, data, err := c.Read(ctx)
	return err == nil && json.Unmarshal(data, v) == nil
}

func send(ctx context.Context, c *websocket.Conn, v any) {
	data, _ := json.Marshal(v)
	_ = c.Write(ctx, websocket.MessageText, data)
}

// accept answers the auth message and records the filter.
func (s *streamServer) accept(ctx context.Context, c *websocket.Conn) bool {
	send(ctx, c, map[string]string{"type": "auth_success"})
	var filter map[string]any
	if !readInto(ctx, c, &filter) {
		return false
	}
	s.mu.Lock()
	s.filters = append(s.filters, filter)
	s.mu.Unlock()
	return true
}

func stateEvent(id, name, typ string) map[string]any {
	return map[string]any{"type": "event", "event": map[string]any{
		"id": "e-" + id + name, "event": "prefect.flow-run." + name, "occurred": "2026-01-02T03:04:05Z",
		"resource": map[string]string{
			"prefect.resource.id": "prefect.flow-run." + id, "prefect.state-name": name, "prefect.state-type": typ,
		},
	}}
}

func streamClient(t *testing.T, s *streamServer, mut func(*Config)) *Client {
	t.Helper()
	cfg := Config{APIURL: s.srv.URL + "/api"}
	if mut != nil {
		mut(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var quickStream = StreamOptions{MaxFailures: 3, Backoff: backoff.Policy{Initial: time.Millisecond}}

// The client authenticates, asks for the events of flow runs, work pools
// and work queues with an open-ended window and no backfill, and hands each
// event on; a flow run's state change reads as one, and a related resource
// by its role.
func TestStreamEvents(t *testing.T) {
	t.Parallel()
	var s *streamServer
	s = newStreamServer(t, func(ctx context.Context, c *websocket.Conn) {
		if !s.accept(ctx, c) {
			return
		}
		send(ctx, c, map[string]any{"type": "event", "event": map[string]any{
			"event": "prefect.flow-run.heartbeat", "resource": map[string]string{"prefect.resource.id": "prefect.flow-run.r0"},
		}})
		send(ctx, c, map[string]any{"type": "event", "event": map[string]any{
			"event": "prefect.work-pool.ready", "resource": map[string]string{"prefect.resource.id": "prefect.work-pool.p", "prefect.state-type": "READY"},
		}})
		send(ctx, c, map[string]string{"type": "something-else"})
		send(ctx, c, stateEvent("r1", "Running", "RUNNING"))
		scheduled := stateEvent("r2", "Scheduled", "SCHEDULED")
		scheduled["event"].(map[string]any)["related"] = []map[string]string{
			{"prefect.resource.id": "prefect.flow.f", "prefect.resource.role": "flow", "prefect.resource.name": "x"},
			{"prefect.resource.id": "prefect.work-pool.p", "prefect.resource.role": "work-pool", "prefect.resource.name": "pool"},
		}
		send(ctx, c, scheduled)
		<-ctx.Done()
	})
	c := streamClient(t, s, func(cfg *Config) { cfg.AuthString = "admin:pw"; cfg.UserAgent = "aciworker/test" })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []Event
	err := c.StreamEvents(ctx, quickStream, func(ev Event) {
		got = append(got, ev)
		if len(got) == 4 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("StreamEvents = %v, want context.Canceled", err)
	}
	var names []string
	var states []FlowRunState
	for _, ev := range got {
		names = append(names, ev.Event)
		if st, ok := ev.FlowRunState(); ok {
			states = append(states, st)
		}
	}
	if want := "[prefect.flow-run.heartbeat prefect.work-pool.ready prefect.flow-run.Running prefect.flow-run.Scheduled]"; fmt.Sprint(names) != want {
		t.Fatalf("events %v, want %s", names, want)
	}
	want := []FlowRunState{
		{FlowRunID: "r1", StateType: "RUNNING", StateName: "Running", Occurred: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{FlowRunID: "r2", StateType: "SCHEDULED", StateName: "Scheduled", Occurred: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Fatalf("states %+v, want %+v", states, want)
	}
	if id, name, ok := got[3].RelatedTo("work-pool"); id != "p" || name != "pool" || !ok {
		t.Errorf("related work pool = %q %q %v", id, name, ok)
	}
	if _, _, ok := got[2].RelatedTo("work-pool"); ok {
		t.Errorf("an event without related resources names a work pool")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.auths[0]["type"] != "auth" || s.auths[0]["token"] != "admin:pw" {
		t.Errorf("auth message %v, want the auth string as token", s.auths[0])
	}
	if h := s.headers[0]; h.Get("User-Agent") != "aciworker/test" || !strings.HasPrefix(h.Get("Authorization"), "Basic ") {
		t.Errorf("upgrade headers %v", h)
	}
	f := s.filters[0]
	if f["type"] != "filter" || f["backfill"] != false {
		t.Fatalf("filter message %v", f)
	}
	inner := f["filter"].(map[string]any)
	until, err := time.Parse(time.RFC3339Nano, inner["occurred"].(map[string]any)["until"].(string))
	if err != nil || time.Until(until) < 300*24*time.Hour {
		t.Errorf("filter window ends %v (%v): the server would drop every live event after it", until, err)
	}
	if fmt.Sprint(inner["event"]) != "map[prefix:[prefect.flow-run. prefect.work-pool. prefect.work-queue.]]" {
		t.Errorf("event filter %v", inner["event"])
	}
}

// A dropped connection is reconnected; the failures that count are the
// ones in a row, and Stream gives up after MaxFailures of them.
func TestStreamReconnectsThenGivesUp(t *testing.T) {
	t.Parallel()
	var s *streamServer
	drop := func(ctx context.Context, c *websocket.Conn) { s.accept(ctx, c) }
	s = newStreamServer(t,
		drop, // a failure
		func(ctx context.Context, c *websocket.Conn) { // delivers: the count starts again
			if s.accept(ctx, c) {
				send(ctx, c, stateEvent("r1", "Failed", "FAILED"))
			}
		},
		drop, // its drop was the first of three failures in a row that end it
	)
	c := streamClient(t, s, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connected, states := 0, 0
	opts := quickStream
	opts.Connected = func() { connected++ }
	err := c.StreamEvents(ctx, opts, func(Event) { states++ })
	if err == nil || errors.Is(err, ErrStreamRefused) || ctx.Err() != nil {
		t.Fatalf("StreamEvents = %v, want a give-up after 3 failures", err)
	}
	if connected != 4 || states != 1 {
		t.Fatalf("%d connections, %d states; want 4 and 1", connected, states)
	}
}

// A server that refuses the stream (wrong credentials, no such route) is
// not retried.
func TestStreamRefused(t *testing.T) {
	t.Parallel()
	s := newStreamServer(t, func(ctx context.Context, c *websocket.Conn) {
		c.Close(websocket.StatusPolicyViolation, "Invalid token")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := streamClient(t, s, func(cfg *Config) { cfg.AuthString = "admin:wrong-secret" })
	err := c.StreamEvents(ctx, quickStream, func(Event) {})
	if !errors.Is(err, ErrStreamRefused) || strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("refused auth: %v, want ErrStreamRefused without the secret", err)
	}
	s.mu.Lock()
	conns := s.conns
	s.mu.Unlock()
	if conns != 1 {
		t.Fatalf("%d connections, want 1: a refusal is final", conns)
	}
	missing := streamClient(t, s, func(cfg *Config) { cfg.APIURL = s.srv.URL + "/elsewhere" })
	if err := missing.StreamEvents(ctx, quickStream, func(Event) {}); !errors.Is(err, ErrStreamRefused) {
		t.Fatalf("no such route: %v, want ErrStreamRefused", err)
	}
}
