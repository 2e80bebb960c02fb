package prefect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/aciworker/aciworker/internal/backoff"
)

// FlowRunState is one flow run state change, as Prefect's event stream
// announces it (event "prefect.flow-run.<state name>").
type FlowRunState struct {
	FlowRunID string
	StateType string // e.g. "COMPLETED"
	StateName string
	Occurred  time.Time
}

// FlowRunState is the state change e announces; ok is false for any other
// event (a heartbeat, another resource's event).
func (e Event) FlowRunState() (st FlowRunState, ok bool) {
	id, ok := strings.CutPrefix(e.Resource["prefect.resource.id"], flowRunResource)
	typ := e.Resource["prefect.state-type"]
	if !ok || typ == "" || !strings.HasPrefix(e.Event, flowRunResource) {
		return FlowRunState{}, false
	}
	return FlowRunState{FlowRunID: id, StateType: typ, StateName: e.Resource["prefect.state-name"], Occurred: e.Occurred}, true
}

// RelatedTo returns the id and name of the resource related to e in role
// (e.g. "work-pool": a flow run's pool, whose resource id is
// "prefect.work-pool.<id>"); ok is false when e names none.
func (e Event) RelatedTo(role string) (id, name string, ok bool) {
	for _, r := range e.Related {
		if r["prefect.resource.role"] != role {
			continue
		}
		if id, ok := strings.CutPrefix(r["prefect.resource.id"], "prefect."+role+"."); ok {
			return id, r["prefect.resource.name"], true
		}
	}
	return "", "", false
}

// StreamOptions bounds a subscription to the event stream.
type StreamOptions struct {
	// MaxFailures is how many connections in a row may fail (refused,
	// dropped before an event or a minute of life) before Stream gives
	// up; 0 means 10, Prefect's reconnection_attempts.
	MaxFailures int
	// PingInterval is how often a quiet connection is checked, so that a
	// half-open one is noticed; 0 means 30 s.
	PingInterval time.Duration
	// Backoff spaces reconnections; its zero value waits 1 s, doubling to
	// 30 s.
	Backoff backoff.Policy
	// Connected, when set, is called each time a connection is
	// subscribed.
	Connected func()
}

// ErrStreamRefused marks an event stream the server will not serve this
// client (no such route, authentication refused): reconnecting is useless.
var ErrStreamRefused = errors.New("event stream refused")

const (
	defaultStreamFailures = 10
	defaultStreamPing     = 30 * time.Second
	// streamHealthy is how long a connection must last to count as
	// working even if no event came (an idle pool sends none).
	streamHealthy = time.Minute
	// streamHandshake bounds the dial and the auth exchange.
	streamHandshake = 30 * time.Second
	// maxEventBytes is the largest event message read; a state message
	// carrying a long traceback stays well under it.
	maxEventBytes = 4 << 20
	// flowRunResource is the prefix of a flow run's resource id and of
	// its state events' names.
	flowRunResource = "prefect.flow-run."
)

// streamedResources are the resources whose events the stream asks for:
// flow runs' state changes, and the status changes of work pools and work
// queues (a pool or queue resumed).
var streamedResources = []string{flowRunResource, "prefect.work-pool.", "prefect.work-queue."}

// StreamEvents follows the events of flow runs, work pools and work
// queues over the server's event stream (the websocket at /events/out, the
// one Prefect's own PrefectEventSubscriber reads) and calls fn with each, in
// the order they come, until ctx ends or the stream cannot be had. The
// server applies no filter on related resources to live events, so a
// caller that wants one pool's events filters them itself. It reconnects
// after a drop; it returns the last error once MaxFailures connections in a
// row failed, at once when the server refuses it (errors then wrap
// ErrStreamRefused), and ctx's error when ctx ends.
//
// Events are hints: a dropped connection loses those sent meanwhile
// (no backfill is asked for), so callers keep their own polling as the
// source of truth.
func (c *Client) StreamEvents(ctx context.Context, opts StreamOptions, fn func(Event)) error {
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = defaultStreamFailures
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = defaultStreamPing
	}
	if opts.Backoff.Initial <= 0 {
		opts.Backoff = backoff.Policy{Initial: time.Second, Max: 30 * time.Second, Jitter: 0.2}
	}
	failures := 0
	for {
		start := time.Now()
		delivered, err := c.streamOnce(ctx, opts, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrStreamRefused) {
			return err
		}
		if delivered || time.Since(start) >= streamHealthy {
			failures = 0
		}
		failures++
		if failures >= opts.MaxFailures {
			return fmt.Errorf("prefect event stream: %d connections in a row failed: %w", failures, err)
		}
		c.log.Debug("prefect event stream dropped; reconnecting", "err", c.redact(err.Error()), "failures", failures)
		if err := backoff.Sleep(ctx, nil, opts.Backoff.Delay(failures-1)); err != nil {
			return err
		}
	}
}

// streamURL is the event stream's websocket URL: the API URL with a ws
// scheme, as Prefect's events_out_socket_from_api_url builds it (Prefect
// Cloud's workspace URL included).
func (c *Client) streamURL() string {
	u := c.base + "/events/out"
	if rest, ok := strings.CutPrefix(u, "https://"); ok {
		return "wss://" + rest
	}
	return "ws://" + strings.TrimPrefix(u, "http://")
}

// streamOnce runs one connection to its end; delivered reports whether
// any event came.
func (c *Client) streamOnce(ctx context.Context, opts StreamOptions, fn func(Event)) (delivered bool, err error) {
	conn, err := c.dialStream(ctx)
	if err != nil {
		return false, err
	}
	defer conn.CloseNow()
	conn.SetReadLimit(maxEventBytes)
	if opts.Connected != nil {
		opts.Connected()
	}
	ping := opts.PingInterval

	// Reads block until a message or ctx: the pinger ends the connection
	// when the server stops answering, which ends the read.
	pingDone := make(chan struct{})
	defer func() { <-pingDone }()
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(pingDone)
		t := time.NewTicker(ping)
		defer t.Stop()
		for {
			select {
			case <-connCtx.Done():
				return
			case <-t.C:
			}
			pctx, pcancel := context.WithTimeout(connCtx, ping)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				cancel()
				return
			}
		}
	}()

	for {
		_, data, err := conn.Read(connCtx)
		if err != nil {
			return delivered, fmt.Errorf("prefect event stream: read: %w", err)
		}
		var msg struct {
			Type  string `json:"type"`
			Event Event  `json:"event"`
		}
		if err := json.Unmarshal(data, &msg); err != nil || msg.Type != "event" {
			continue // not an event, or one of another shape: not ours
		}
		delivered = true
		fn(msg.Event)
	}
}

// dialStream connects, authenticates and subscribes, within
// streamHandshake.
func (c *Client) dialStream(ctx context.Context) (*websocket.Conn, error) {
	hctx, cancel := context.WithTimeout(ctx, streamHandshake)
	defer cancel()
	h := http.Header{}
	for k, v := range c.custom {
		h.Set(k, v)
	}
	h.Set("User-Agent", c.userAgent)
	if c.auth != "" {
		h.Set("Authorization", c.auth)
	}
	conn, resp, err := websocket.Dial(hctx, c.streamURL(), &websocket.DialOptions{
		HTTPClient:   c.hc,
		HTTPHeader:   h,
		Subprotocols: []string{"prefect"},
	})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil && resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return nil, fmt.Errorf("prefect event stream: %w: the server answered %d", ErrStreamRefused, resp.StatusCode)
		}
		return nil, fmt.Errorf("prefect event stream: connect: %s", c.redact(err.Error()))
	}
	// The first message authenticates (Prefect Cloud's API key, or a
	// self-hosted server's auth string; the server wants the message even
	// without auth), the second sets the filter.
	var token any
	if c.streamToken != "" {
		token = c.streamToken
	}
	if err := writeJSON(hctx, conn, map[string]any{"type": "auth", "token": token}); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("prefect event stream: authenticate: %w", err)
	}
	_, data, err := conn.Read(hctx)
	if err != nil {
		conn.CloseNow()
		if websocket.CloseStatus(err) == websocket.StatusPolicyViolation {
			return nil, fmt.Errorf("prefect event stream: %w: authentication failed (%s)", ErrStreamRefused, c.redact(err.Error()))
		}
		return nil, fmt.Errorf("prefect event stream: authenticate: %s", c.redact(err.Error()))
	}
	var answer struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(data, &answer); err != nil || answer.Type != "auth_success" {
		conn.CloseNow()
		return nil, fmt.Errorf("prefect event stream: %w: authentication failed (%q)", ErrStreamRefused, c.redact(answer.Reason))
	}
	// The server matches live events against the filter's time window,
	// whose end defaults to "now": an open end is a year away, as in
	// Prefect's subscriber. No backfill: the caller polls anyway.
	now := time.Now().UTC()
	filter := map[string]any{
		"type":     "filter",
		"backfill": false,
		"filter": map[string]any{
			"occurred": map[string]any{"since": now.Add(-time.Minute), "until": now.AddDate(1, 0, 0)},
			"event":    map[string]any{"prefix": streamedResources},
			"resource": map[string]any{"id_prefix": streamedResources},
		},
	}
	if err := writeJSON(hctx, conn, filter); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("prefect event stream: subscribe: %w", err)
	}
	return conn, nil
}

func writeJSON(ctx context.Context, conn *websocket.Conn, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return conn.Write(ctx, websocket.MessageText, data)
}
