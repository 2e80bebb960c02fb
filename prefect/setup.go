package prefect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Calls below set a server up for tests, benchmarks and demos; a worker
// does not need them.

// CreateFlow creates a flow, or returns the existing one of that name.
func (c *Client) CreateFlow(ctx context.Context, name string) (*Flow, error) {
	var f Flow
	if err := c.do(ctx, call{method: http.MethodPost, route: "flows/", body: map[string]any{"name": name}, out: &f, idempotent: true}); err != nil {
		return nil, err
	}
	return &f, nil
}

// DeploymentCreate creates (or, same name and flow, updates) a deployment.
type DeploymentCreate struct {
	Name             string           `json:"name"`
	FlowID           string           `json:"flow_id"`
	WorkPoolName     string           `json:"work_pool_name,omitempty"`
	WorkQueueName    string           `json:"work_queue_name,omitempty"`
	Entrypoint       string           `json:"entrypoint,omitempty"`
	Path             string           `json:"path,omitempty"`
	PullSteps        []map[string]any `json:"pull_steps,omitempty"`
	JobVariables     map[string]any   `json:"job_variables,omitempty"`
	Parameters       map[string]any   `json:"parameters"`
	Tags             []string         `json:"tags,omitempty"`
	ConcurrencyLimit *int             `json:"concurrency_limit,omitempty"`
	Paused           bool             `json:"paused,omitempty"`
	// EnforceParameterSchema nil keeps the server default (true).
	EnforceParameterSchema *bool `json:"enforce_parameter_schema,omitempty"`
}

// SetWorkingDirectoryStep is the pull step Prefect writes for code on local
// disk: the flow-run executor changes into dir before loading the entrypoint.
func SetWorkingDirectoryStep(dir string) map[string]any {
	return map[string]any{"prefect.deployments.steps.set_working_directory": map[string]any{"directory": dir}}
}

// CreateDeployment creates a deployment (the server upserts by name and flow).
func (c *Client) CreateDeployment(ctx context.Context, d DeploymentCreate) (*Deployment, error) {
	if d.Name == "" || d.FlowID == "" {
		return nil, fmt.Errorf("create deployment: name %q and flow id %q are both required", d.Name, d.FlowID)
	}
	if d.Parameters == nil {
		d.Parameters = map[string]any{}
	}
	var out Deployment
	if err := c.do(ctx, call{method: http.MethodPost, route: "deployments/", body: d, out: &out, idempotent: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// FlowRunCreate is the body of a run created from a deployment.
type FlowRunCreate struct {
	Name         string         `json:"name,omitempty"`
	Parameters   map[string]any `json:"parameters"`
	JobVariables map[string]any `json:"job_variables,omitempty"`
	Tags         []string       `json:"tags,omitempty"`
	// State nil: SCHEDULED now. A SCHEDULED state with
	// StateDetails.ScheduledTime schedules it later.
	State *StateCreate `json:"state,omitempty"`
}

// CreateFlowRunFromDeployment creates a flow run of a deployment. Not
// retried on 500: a committed first attempt would leave a second run.
func (c *Client) CreateFlowRunFromDeployment(ctx context.Context, deploymentID string, fr FlowRunCreate) (*FlowRun, error) {
	if fr.Parameters == nil {
		fr.Parameters = map[string]any{}
	}
	if fr.State != nil && fr.State.Name == "" {
		fr.State.Name = capitalised(fr.State.Type)
	}
	var out FlowRun
	if err := c.do(ctx, call{method: http.MethodPost, route: "deployments/" + esc(deploymentID) + "/create_flow_run", body: fr, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteFlowRun deletes a flow run (missing counts as deleted).
func (c *Client) DeleteFlowRun(ctx context.Context, id string) error {
	err := c.do(ctx, call{method: http.MethodDelete, route: "flow_runs/" + esc(id), idempotent: true})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// DeleteWorkPool deletes a work pool (missing counts as deleted).
func (c *Client) DeleteWorkPool(ctx context.Context, name string) error {
	err := c.do(ctx, call{method: http.MethodDelete, route: "work_pools/" + esc(name), idempotent: true})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// ReadBlockType reads a block type by slug.
func (c *Client) ReadBlockType(ctx context.Context, slug string) (*BlockType, error) {
	var bt BlockType
	if err := c.do(ctx, call{method: http.MethodGet, route: "block_types/slug/" + esc(slug), out: &bt, idempotent: true}); err != nil {
		return nil, err
	}
	return &bt, nil
}

// ReadBlockSchemas lists the schemas of a block type, newest first.
func (c *Client) ReadBlockSchemas(ctx context.Context, blockTypeID string) ([]BlockSchema, error) {
	body := map[string]any{"block_schemas": map[string]any{"block_type_id": anyOf([]string{blockTypeID})}}
	var out []BlockSchema
	err := c.do(ctx, call{method: http.MethodPost, route: "block_schemas/filter", body: body, out: &out, idempotent: true})
	return out, err
}

// CreateBlockDocument creates a named block document of the block type
// typeSlug with its newest schema. data keys should match the schema's
// fields. The server answers ErrConflict when the name is taken for that type.
func (c *Client) CreateBlockDocument(ctx context.Context, typeSlug, name string, data map[string]any) (*BlockDocument, error) {
	bt, err := c.ReadBlockType(ctx, typeSlug)
	if err != nil {
		return nil, fmt.Errorf("create block document %q: block type %q: %w", name, typeSlug, err)
	}
	schemas, err := c.ReadBlockSchemas(ctx, bt.ID)
	if err != nil {
		return nil, fmt.Errorf("create block document %q: schemas of %q: %w", name, typeSlug, err)
	}
	if len(schemas) == 0 {
		return nil, fmt.Errorf("create block document %q: block type %q has no schema", name, typeSlug)
	}
	if data == nil {
		data = map[string]any{}
	}
	body := map[string]any{"name": name, "block_type_id": bt.ID, "block_schema_id": schemas[0].ID, "data": data}
	var out BlockDocument
	if err := c.do(ctx, call{method: http.MethodPost, route: "block_documents/", body: body, out: &out}); err != nil {
		return nil, fmt.Errorf("create block document %q of type %q: %w", name, typeSlug, err)
	}
	return &out, nil
}

// CreateVariable creates a variable (ErrConflict when the name is taken).
func (c *Client) CreateVariable(ctx context.Context, name string, value any, tags []string) (*Variable, error) {
	if tags == nil {
		tags = []string{}
	}
	var out Variable
	body := map[string]any{"name": name, "value": value, "tags": tags}
	if err := c.do(ctx, call{method: http.MethodPost, route: "variables/", body: body, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}
