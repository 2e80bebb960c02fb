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

// The client authenticates, asks for flow-run events with an open-ended
// window and no backfill, and hands on state changes only.
func TestStreamFlowRunStates(t *testing.T) {
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
		send(ctx, c, stateEvent("r1", "Completed", "COMPLETED"))
		<-ctx.Done()
	})
	c := streamClient(t, s, func(cfg *Config) { cfg.AuthString = "admin:pw"; cfg.UserAgent = "aciworker/test" })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []FlowRunState
	err := c.StreamFlowRunStates(ctx, quickStream, func(st FlowRunState) {
		got = append(got, st)
		if len(got) == 2 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("StreamFlowRunStates = %v, want context.Canceled", err)
	}
	want := []FlowRunState{
		{FlowRunID: "r1", StateType: "RUNNING", StateName: "Running", Occurred: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{FlowRunID: "r1", StateType: "COMPLETED", StateName: "Completed", Occurred: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("states %+v, want %+v", got, want)
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
	if fmt.Sprint(inner["event"]) != "map[prefix:[prefect.flow-run.]]" {
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
	err := c.StreamFlowRunStates(ctx, opts, func(FlowRunState) { states++ })
	if err == nil || errors.Is(err, ErrStreamRefused) || ctx.Err() != nil {
		t.Fatalf("StreamFlowRunStates = %v, want a give-up after 3 failures", err)
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
	err := c.StreamFlowRunStates(ctx, quickStream, func(FlowRunState) {})
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
	if err := missing.StreamFlowRunStates(ctx, quickStream, func(FlowRunState) {}); !errors.Is(err, ErrStreamRefused) {
		t.Fatalf("no such route: %v, want ErrStreamRefused", err)
	}
}
