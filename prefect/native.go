package prefect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// rawBody receives a response body as is, for the few answers that are
// not JSON (Prefect Cloud returns a worker id as bare text).
type rawBody []byte

// Cloud says whether the API is Prefect Cloud's (its URL is under
// PREFECT_CLOUD_API_URL), as Prefect's determine_server_type decides.
func (c *Client) Cloud() bool { return c.cloud }

// Integration is one entry of a worker's metadata, as Prefect's
// WorkerMetadata lists installed integrations.
type Integration struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// WorkerMetadata is what a worker says about itself in a heartbeat.
type WorkerMetadata struct {
	Integrations []Integration `json:"integrations"`
}

// Heartbeat is one worker heartbeat.
type Heartbeat struct {
	Worker          string
	IntervalSeconds int
	// Metadata is sent when set (Prefect's worker sends it to Cloud once).
	Metadata *WorkerMetadata
	// ReturnID asks the server for the worker's id (Prefect Cloud).
	ReturnID bool
}

// Heartbeat records that a worker is alive in pool. With ReturnID it
// returns the worker's id when the server gives one (Prefect Cloud does;
// a self-hosted server answers 204 and it returns "").
func (c *Client) Heartbeat(ctx context.Context, pool string, hb Heartbeat) (string, error) {
	body := map[string]any{"name": hb.Worker, "heartbeat_interval_seconds": hb.IntervalSeconds}
	if hb.Metadata != nil {
		body["metadata"] = hb.Metadata
	}
	if hb.ReturnID {
		body["return_id"] = true
	}
	var raw rawBody
	err := c.do(ctx, call{method: http.MethodPost, route: "work_pools/" + esc(pool) + "/workers/heartbeat", body: body, out: &raw, idempotent: true})
	if err != nil || !hb.ReturnID {
		return "", err
	}
	return parseWorkerID(raw), nil
}

// parseWorkerID reads the id in a heartbeat answer: a bare UUID, or a JSON
// string holding one; anything else is no id.
func parseWorkerID(b []byte) string {
	s := string(bytes.TrimSpace(b))
	var quoted string
	if json.Unmarshal(b, &quoted) == nil {
		s = quoted
	}
	id, err := uuid.Parse(strings.TrimSpace(s))
	if err != nil {
		return ""
	}
	return id.String()
}

// ServerVersion returns the server's Prefect version (GET /admin/version),
// e.g. "3.8.8".
func (c *Client) ServerVersion(ctx context.Context) (string, error) {
	var v string
	if err := c.do(ctx, call{method: http.MethodGet, route: "admin/version", out: &v, idempotent: true}); err != nil {
		return "", err
	}
	if v == "" {
		return "", fmt.Errorf("prefect API GET admin/version: empty version")
	}
	return v, nil
}

// ReadEvents returns recent events whose name starts with one of prefixes
// and, when resourceIDs is set, whose resource is one of them (POST
// /events/filter), for checks that read back what a worker emitted. The
// server takes at most 50 events per page.
func (c *Client) ReadEvents(ctx context.Context, prefixes, resourceIDs []string, limit int) ([]Event, error) {
	filter := map[string]any{"event": map[string]any{"prefix": prefixes}}
	if len(resourceIDs) > 0 {
		filter["resource"] = map[string]any{"id": resourceIDs}
	}
	body := map[string]any{"filter": filter, "limit": limit}
	var out struct {
		Events []Event `json:"events"`
	}
	err := c.do(ctx, call{method: http.MethodPost, route: "events/filter", body: body, out: &out, idempotent: true})
	return out.Events, err
}
