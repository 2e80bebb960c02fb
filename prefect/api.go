package prefect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// esc escapes one path parameter; names may hold spaces and Unicode.
func esc(s string) string { return url.PathEscape(s) }

var includeSecrets = url.Values{"include_secrets": {"true"}}

// ReadWorkPool reads a work pool by name (ErrNotFound when missing).
func (c *Client) ReadWorkPool(ctx context.Context, name string) (*WorkPool, error) {
	var wp WorkPool
	err := c.do(ctx, call{method: http.MethodGet, route: "work_pools/" + esc(name), out: &wp, idempotent: true})
	if err != nil {
		return nil, err
	}
	return &wp, nil
}

// CreateWorkPool creates a work pool (ErrConflict when it exists, ErrForbidden
// for names starting with "prefect").
func (c *Client) CreateWorkPool(ctx context.Context, wp WorkPoolCreate) (*WorkPool, error) {
	if wp.Name == "" {
		return nil, errors.New("create work pool: name is empty")
	}
	var out WorkPool
	if err := c.do(ctx, call{method: http.MethodPost, route: "work_pools/", body: wp, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateWorkPoolTemplate replaces a pool's base job template.
func (c *Client) UpdateWorkPoolTemplate(ctx context.Context, name string, tmpl map[string]any) error {
	if tmpl == nil {
		tmpl = map[string]any{}
	}
	return c.do(ctx, call{method: http.MethodPatch, route: "work_pools/" + esc(name),
		body: map[string]any{"base_job_template": tmpl}, idempotent: true})
}

// SendWorkerHeartbeat records that worker is alive in pool.
func (c *Client) SendWorkerHeartbeat(ctx context.Context, pool, worker string, intervalSeconds int) error {
	_, err := c.Heartbeat(ctx, pool, Heartbeat{Worker: worker, IntervalSeconds: intervalSeconds})
	return err
}

// ListWorkers lists the workers of a pool.
func (c *Client) ListWorkers(ctx context.Context, pool string) ([]Worker, error) {
	var out []Worker
	err := c.do(ctx, call{method: http.MethodPost, route: "work_pools/" + esc(pool) + "/workers/filter",
		body: map[string]any{}, out: &out, idempotent: true})
	return out, err
}

// ReadWorkPoolQueues lists the queues of a pool.
func (c *Client) ReadWorkPoolQueues(ctx context.Context, pool string) ([]WorkQueue, error) {
	var out []WorkQueue
	err := c.do(ctx, call{method: http.MethodPost, route: "work_pools/" + esc(pool) + "/queues/filter",
		body: map[string]any{}, out: &out, idempotent: true})
	return out, err
}

// ScheduledRunsQuery selects scheduled runs of a pool.
type ScheduledRunsQuery struct {
	Queues []string  // empty: every queue of the pool
	Before time.Time // required: runs due at or before this time
	After  time.Time // zero: no lower bound
	Limit  int       // 0: the server's default (200, also its maximum)
}

// GetScheduledFlowRuns returns runs of pool (and queues, if any) scheduled
// before the given time, as a Prefect worker polls them. Polling claims
// nothing: a run belongs to whoever gets its Pending proposal accepted.
func (c *Client) GetScheduledFlowRuns(ctx context.Context, pool string, queues []string, before time.Time) ([]WorkerFlowRun, error) {
	return c.QueryScheduledFlowRuns(ctx, pool, ScheduledRunsQuery{Queues: queues, Before: before})
}

// QueryScheduledFlowRuns is GetScheduledFlowRuns with every server option.
func (c *Client) QueryScheduledFlowRuns(ctx context.Context, pool string, q ScheduledRunsQuery) ([]WorkerFlowRun, error) {
	if q.Before.IsZero() {
		return nil, errors.New("get scheduled flow runs: Before is zero")
	}
	queues := q.Queues
	if queues == nil {
		queues = []string{}
	}
	body := map[string]any{"work_queue_names": queues, "scheduled_before": formatTime(q.Before)}
	if !q.After.IsZero() {
		body["scheduled_after"] = formatTime(q.After)
	}
	if q.Limit > 0 {
		body["limit"] = q.Limit
	}
	var out []WorkerFlowRun
	err := c.do(ctx, call{method: http.MethodPost, route: "work_pools/" + esc(pool) + "/get_scheduled_flow_runs",
		body: body, out: &out, idempotent: true})
	return out, err
}

// ReadFlowRun reads a flow run by id.
func (c *Client) ReadFlowRun(ctx context.Context, id string) (*FlowRun, error) {
	var fr FlowRun
	if err := c.do(ctx, call{method: http.MethodGet, route: "flow_runs/" + esc(id), out: &fr, idempotent: true}); err != nil {
		return nil, err
	}
	return &fr, nil
}

// ReadFlowRunStates reads a flow run's state history, oldest first (the
// server orders it by timestamp).
func (c *Client) ReadFlowRunStates(ctx context.Context, id string) ([]State, error) {
	var out []State
	err := c.do(ctx, call{method: http.MethodGet, route: "flow_run_states/", query: url.Values{"flow_run_id": {id}}, out: &out, idempotent: true})
	return out, err
}

// FlowRunFilter selects flow runs; empty fields do not filter.
type FlowRunFilter struct {
	IDs            []string
	NotIDs         []string
	StateTypes     []string
	StateNames     []string
	DeploymentIDs  []string
	WorkQueueNames []string
	WorkPoolNames  []string
	Tags           []string // runs carrying all of these tags
	Sort           string   // e.g. "EXPECTED_START_TIME_ASC"; "" = server default
	Limit          int      // 0 = server default (200)
	Offset         int
}

func anyOf(v []string) map[string]any { return map[string]any{"any_": v} }

func (f FlowRunFilter) body() map[string]any {
	runs := map[string]any{}
	id := map[string]any{}
	if f.IDs != nil {
		id["any_"] = f.IDs
	}
	if f.NotIDs != nil {
		id["not_any_"] = f.NotIDs
	}
	if len(id) > 0 {
		runs["id"] = id
	}
	state := map[string]any{}
	if f.StateTypes != nil {
		state["type"] = anyOf(f.StateTypes)
	}
	if f.StateNames != nil {
		state["name"] = anyOf(f.StateNames)
	}
	if len(state) > 0 {
		runs["state"] = state
	}
	if f.DeploymentIDs != nil {
		runs["deployment_id"] = anyOf(f.DeploymentIDs)
	}
	if f.WorkQueueNames != nil {
		runs["work_queue_name"] = anyOf(f.WorkQueueNames)
	}
	if f.Tags != nil {
		runs["tags"] = map[string]any{"all_": f.Tags}
	}
	body := map[string]any{"offset": f.Offset}
	if len(runs) > 0 {
		body["flow_runs"] = runs
	}
	if f.WorkPoolNames != nil {
		body["work_pools"] = map[string]any{"name": anyOf(f.WorkPoolNames)}
	}
	if f.Sort != "" {
		body["sort"] = f.Sort
	}
	if f.Limit > 0 {
		body["limit"] = f.Limit
	}
	return body
}

// FilterFlowRuns lists flow runs matching f.
func (c *Client) FilterFlowRuns(ctx context.Context, f FlowRunFilter) ([]FlowRun, error) {
	var out []FlowRun
	err := c.do(ctx, call{method: http.MethodPost, route: "flow_runs/filter", body: f.body(), out: &out, idempotent: true})
	return out, err
}

// SetFlowRunState proposes a state. A missing transition id is generated
// once and reused by every retry, so a retried proposal that the server had
// already applied is answered as a duplicate (REJECT carrying the state)
// instead of being applied twice. A missing name defaults to the capitalised
// type and a missing flow_run_id to id, as Prefect's client does.
func (c *Client) SetFlowRunState(ctx context.Context, id string, st StateCreate, force bool) (*OrchestrationResult, error) {
	if st.Type == "" {
		return nil, fmt.Errorf("set state of flow run %s: state type is empty", id)
	}
	if st.Name == "" {
		st.Name = capitalised(st.Type)
	}
	if st.StateDetails.FlowRunID == "" {
		st.StateDetails.FlowRunID = id
	}
	if st.StateDetails.TransitionID == "" {
		st.StateDetails.TransitionID = newUUID()
	}
	var out OrchestrationResult
	err := c.do(ctx, call{method: http.MethodPost, route: "flow_runs/" + esc(id) + "/set_state",
		body: map[string]any{"state": st, "force": force}, out: &out, idempotent: true})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// SetInfrastructurePID records where a flow run runs.
func (c *Client) SetInfrastructurePID(ctx context.Context, id, pid string) error {
	return c.do(ctx, call{method: http.MethodPatch, route: "flow_runs/" + esc(id),
		body: map[string]any{"infrastructure_pid": pid}, idempotent: true})
}

// UpdateFlowRunLabels merges labels into a flow run's labels.
func (c *Client) UpdateFlowRunLabels(ctx context.Context, id string, labels map[string]string) error {
	if labels == nil {
		labels = map[string]string{}
	}
	return c.do(ctx, call{method: http.MethodPatch, route: "flow_runs/" + esc(id) + "/labels", body: labels, idempotent: true})
}

// ReadDeployment reads a deployment by id.
func (c *Client) ReadDeployment(ctx context.Context, id string) (*Deployment, error) {
	var d Deployment
	if err := c.do(ctx, call{method: http.MethodGet, route: "deployments/" + esc(id), out: &d, idempotent: true}); err != nil {
		return nil, err
	}
	return &d, nil
}

// ReadFlow reads a flow by id.
func (c *Client) ReadFlow(ctx context.Context, id string) (*Flow, error) {
	var f Flow
	if err := c.do(ctx, call{method: http.MethodGet, route: "flows/" + esc(id), out: &f, idempotent: true}); err != nil {
		return nil, err
	}
	return &f, nil
}

// ReadBlockDocument reads a block document by id, secrets in clear.
func (c *Client) ReadBlockDocument(ctx context.Context, id string) (*BlockDocument, error) {
	var b BlockDocument
	if err := c.do(ctx, call{method: http.MethodGet, route: "block_documents/" + esc(id), query: includeSecrets, out: &b, idempotent: true}); err != nil {
		return nil, err
	}
	return &b, nil
}

// ReadBlockDocumentByName reads a block document by block type slug and
// document name, secrets in clear.
func (c *Client) ReadBlockDocumentByName(ctx context.Context, typeSlug, name string) (*BlockDocument, error) {
	var b BlockDocument
	route := "block_types/slug/" + esc(typeSlug) + "/block_documents/name/" + esc(name)
	if err := c.do(ctx, call{method: http.MethodGet, route: route, query: includeSecrets, out: &b, idempotent: true}); err != nil {
		return nil, err
	}
	return &b, nil
}

// ReadVariableByName reads a variable (ErrNotFound when missing).
func (c *Client) ReadVariableByName(ctx context.Context, name string) (*Variable, error) {
	var v Variable
	if err := c.do(ctx, call{method: http.MethodGet, route: "variables/name/" + esc(name), out: &v, idempotent: true}); err != nil {
		return nil, err
	}
	return &v, nil
}

// CreateLogs stores a batch of logs. It is not retried on 500: the batch
// may have been stored, and duplicated log lines are worse than a lost batch
// the caller can decide to resend.
func (c *Client) CreateLogs(ctx context.Context, logs []LogCreate) error {
	if len(logs) == 0 {
		return nil
	}
	return c.do(ctx, call{method: http.MethodPost, route: "logs/", body: logs})
}

// LogFilter selects logs; empty fields do not filter.
type LogFilter struct {
	FlowRunIDs []string
	MinLevel   int
	Sort       string // "TIMESTAMP_ASC" (default) or "TIMESTAMP_DESC"
	Limit      int    // 0 = server default (200)
	Offset     int
}

// ReadLogs lists logs matching f.
func (c *Client) ReadLogs(ctx context.Context, f LogFilter) ([]Log, error) {
	logs := map[string]any{}
	if f.FlowRunIDs != nil {
		logs["flow_run_id"] = anyOf(f.FlowRunIDs)
	}
	if f.MinLevel > 0 {
		logs["level"] = map[string]any{"ge_": f.MinLevel}
	}
	body := map[string]any{"logs": logs, "offset": f.Offset}
	if f.Sort != "" {
		body["sort"] = f.Sort
	}
	if f.Limit > 0 {
		body["limit"] = f.Limit
	}
	var out []Log
	err := c.do(ctx, call{method: http.MethodPost, route: "logs/filter", body: body, out: &out, idempotent: true})
	return out, err
}

// EmitEvents posts events. Events carry their own ids, so a repeat is
// harmless and 500 is retried.
func (c *Client) EmitEvents(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	events = slices.Clone(events)
	for i := range events {
		if events[i].ID == "" {
			events[i].ID = newUUID()
		}
		if events[i].Occurred.IsZero() {
			events[i].Occurred = time.Now()
		}
		if events[i].Payload == nil {
			events[i].Payload = map[string]any{}
		}
		if events[i].Related == nil {
			events[i].Related = []map[string]string{}
		}
	}
	return c.do(ctx, call{method: http.MethodPost, route: "events", body: events, idempotent: true})
}

// Health calls GET /health; it needs no credentials.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodGet, route: "health", idempotent: true})
}
