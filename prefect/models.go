package prefect

import (
	"encoding/json"
	"strings"
	"time"
)

// State types (StateType in Prefect).
const (
	StateScheduled  = "SCHEDULED"
	StatePending    = "PENDING"
	StateRunning    = "RUNNING"
	StateCompleted  = "COMPLETED"
	StateFailed     = "FAILED"
	StateCancelled  = "CANCELLED"
	StateCrashed    = "CRASHED"
	StatePaused     = "PAUSED"
	StateCancelling = "CANCELLING"
)

// Orchestration result statuses (SetStateStatus in Prefect).
const (
	StatusAccept = "ACCEPT"
	StatusReject = "REJECT"
	StatusAbort  = "ABORT"
	StatusWait   = "WAIT"
)

// Models below decode leniently: unknown fields are ignored, so newer
// servers that add fields keep working. Free-form JSON (parameters, job
// variables, templates, block data) is decoded with json.Number.

// StateDetails is the subset of Prefect's state_details a worker reads or
// copies; every field is optional on the wire.
type StateDetails struct {
	FlowRunID                    string     `json:"flow_run_id,omitempty"`
	TaskRunID                    string     `json:"task_run_id,omitempty"`
	ChildFlowRunID               string     `json:"child_flow_run_id,omitempty"`
	ScheduledTime                *time.Time `json:"scheduled_time,omitempty"`
	CacheKey                     string     `json:"cache_key,omitempty"`
	PauseKey                     string     `json:"pause_key,omitempty"`
	TransitionID                 string     `json:"transition_id,omitempty"`
	DeploymentConcurrencyLeaseID string     `json:"deployment_concurrency_lease_id,omitempty"`
}

// State is a flow-run state as the server returns it.
type State struct {
	ID           string       `json:"id"`
	Type         string       `json:"type"`
	Name         string       `json:"name"`
	Message      string       `json:"message"`
	Timestamp    *time.Time   `json:"timestamp"`
	StateDetails StateDetails `json:"state_details"`
	Data         any          `json:"data,omitempty"`
}

// StateCreate is a proposed state. The server forbids id and timestamp
// here (422), so they are not fields.
type StateCreate struct {
	Type         string       `json:"type"`
	Name         string       `json:"name,omitempty"`
	Message      string       `json:"message,omitempty"`
	Data         any          `json:"data,omitempty"`
	StateDetails StateDetails `json:"state_details"`
}

// OrchestrationDetails explains a non-ACCEPT orchestration result.
type OrchestrationDetails struct {
	Type         string   `json:"type"`
	Reason       string   `json:"reason,omitempty"`
	DelaySeconds *float64 `json:"delay_seconds,omitempty"`
}

// OrchestrationResult is the answer to a set_state proposal.
type OrchestrationResult struct {
	State   *State               `json:"state"`
	Status  string               `json:"status"`
	Details OrchestrationDetails `json:"details"`
}

// FlowRun is a flow run (FlowRunResponse, or core FlowRun inside scheduled
// runs, where State is nil).
type FlowRun struct {
	ID                     string         `json:"id"`
	Name                   string         `json:"name"`
	FlowID                 string         `json:"flow_id"`
	DeploymentID           string         `json:"deployment_id"`
	WorkQueueID            string         `json:"work_queue_id"`
	WorkQueueName          string         `json:"work_queue_name"`
	WorkPoolID             string         `json:"work_pool_id"`
	WorkPoolName           string         `json:"work_pool_name"`
	Parameters             map[string]any `json:"parameters"`
	JobVariables           map[string]any `json:"job_variables"`
	Tags                   []string       `json:"tags"`
	Labels                 map[string]any `json:"labels"`
	State                  *State         `json:"state"`
	StateID                string         `json:"state_id"`
	StateType              string         `json:"state_type"`
	StateName              string         `json:"state_name"`
	RunCount               int            `json:"run_count"`
	StartTime              *time.Time     `json:"start_time"`
	EndTime                *time.Time     `json:"end_time"`
	ExpectedStartTime      *time.Time     `json:"expected_start_time"`
	NextScheduledStartTime *time.Time     `json:"next_scheduled_start_time"`
	InfrastructurePID      string         `json:"infrastructure_pid"`
	Created                *time.Time     `json:"created"`
	Updated                *time.Time     `json:"updated"`
}

// WorkerFlowRun is one entry of get_scheduled_flow_runs.
type WorkerFlowRun struct {
	WorkPoolID  string  `json:"work_pool_id"`
	WorkQueueID string  `json:"work_queue_id"`
	FlowRun     FlowRun `json:"flow_run"`
}

// Deployment is a deployment as the worker reads it.
type Deployment struct {
	ID               string           `json:"id"`
	Name             string           `json:"name"`
	FlowID           string           `json:"flow_id"`
	Version          string           `json:"version"`
	Description      string           `json:"description"`
	Parameters       map[string]any   `json:"parameters"`
	JobVariables     map[string]any   `json:"job_variables"`
	WorkPoolName     string           `json:"work_pool_name"`
	WorkQueueName    string           `json:"work_queue_name"`
	WorkQueueID      string           `json:"work_queue_id"`
	Tags             []string         `json:"tags"`
	Labels           map[string]any   `json:"labels"`
	Entrypoint       string           `json:"entrypoint"`
	Path             string           `json:"path"`
	PullSteps        []map[string]any `json:"pull_steps"`
	ConcurrencyLimit *int             `json:"concurrency_limit"`
	Paused           bool             `json:"paused"`
	Status           string           `json:"status"`
	Created          *time.Time       `json:"created"`
	Updated          *time.Time       `json:"updated"`
}

// Flow is a flow.
type Flow struct {
	ID      string         `json:"id"`
	Name    string         `json:"name"`
	Tags    []string       `json:"tags"`
	Labels  map[string]any `json:"labels"`
	Created *time.Time     `json:"created"`
	Updated *time.Time     `json:"updated"`
}

// WorkPool is a work pool.
type WorkPool struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	Description      string         `json:"description"`
	Type             string         `json:"type"`
	BaseJobTemplate  map[string]any `json:"base_job_template"`
	IsPaused         bool           `json:"is_paused"`
	ConcurrencyLimit *int           `json:"concurrency_limit"`
	Status           string         `json:"status"`
	DefaultQueueID   string         `json:"default_queue_id"`
	Created          *time.Time     `json:"created"`
	Updated          *time.Time     `json:"updated"`
}

// WorkPoolCreate creates a work pool. A nil BaseJobTemplate lets the server
// store {} (a worker then writes its own default).
type WorkPoolCreate struct {
	Name             string         `json:"name"`
	Type             string         `json:"type,omitempty"`
	Description      string         `json:"description,omitempty"`
	BaseJobTemplate  map[string]any `json:"base_job_template,omitempty"`
	IsPaused         bool           `json:"is_paused,omitempty"`
	ConcurrencyLimit *int           `json:"concurrency_limit,omitempty"`
}

// WorkQueue is a work pool queue.
type WorkQueue struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	WorkPoolID       string `json:"work_pool_id"`
	IsPaused         bool   `json:"is_paused"`
	ConcurrencyLimit *int   `json:"concurrency_limit"`
	Priority         int    `json:"priority"`
	Status           string `json:"status"`
}

// Worker is a worker row of a pool.
type Worker struct {
	ID                       string     `json:"id"`
	Name                     string     `json:"name"`
	WorkPoolID               string     `json:"work_pool_id"`
	LastHeartbeatTime        *time.Time `json:"last_heartbeat_time"`
	HeartbeatIntervalSeconds *int       `json:"heartbeat_interval_seconds"`
	Status                   string     `json:"status"`
	Created                  *time.Time `json:"created"`
	Updated                  *time.Time `json:"updated"`
}

// BlockType is a block type.
type BlockType struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
}

// BlockSchema is a block schema.
type BlockSchema struct {
	ID          string         `json:"id"`
	Checksum    string         `json:"checksum"`
	Fields      map[string]any `json:"fields"`
	BlockTypeID string         `json:"block_type_id"`
	Version     string         `json:"version"`
}

// BlockDocument is a block document; Data holds secrets in clear when read
// with include_secrets (which this client always asks for).
type BlockDocument struct {
	ID            string         `json:"id"`
	Name          string         `json:"name"`
	Data          map[string]any `json:"data"`
	BlockTypeID   string         `json:"block_type_id"`
	BlockTypeName string         `json:"block_type_name"`
	BlockSchemaID string         `json:"block_schema_id"`
	BlockType     *BlockType     `json:"block_type"`
	BlockSchema   *BlockSchema   `json:"block_schema"` // its fields say which data is secret
	IsAnonymous   bool           `json:"is_anonymous"`
}

// BlockTypeSlug returns the slug of the document's block type, if the server sent it.
func (b *BlockDocument) BlockTypeSlug() string {
	if b.BlockType != nil {
		return b.BlockType.Slug
	}
	return ""
}

// Variable is a Prefect variable; Value is any JSON value.
type Variable struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Value any      `json:"value"`
	Tags  []string `json:"tags"`
}

// Log levels as Prefect stores them (Python's numeric levels).
const (
	LevelDebug    = 10
	LevelInfo     = 20
	LevelWarning  = 30
	LevelError    = 40
	LevelCritical = 50
)

// LogCreate is one log entry to create. There is deliberately no worker_id:
// the self-hosted server rejects unknown fields with 422.
type LogCreate struct {
	Name      string
	Level     int
	Message   string
	Timestamp time.Time
	FlowRunID string // "" sends null
	TaskRunID string // "" sends null
}

// MarshalJSON writes microsecond timestamps with an offset, as Python does;
// the server keeps microseconds, so finer digits would be lost anyway.
func (l LogCreate) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name      string  `json:"name"`
		Level     int     `json:"level"`
		Message   string  `json:"message"`
		Timestamp string  `json:"timestamp"`
		FlowRunID *string `json:"flow_run_id"`
		TaskRunID *string `json:"task_run_id"`
	}{l.Name, l.Level, l.Message, formatTime(l.Timestamp), nilIfEmpty(l.FlowRunID), nilIfEmpty(l.TaskRunID)})
}

// Log is a stored log entry.
type Log struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Level     int       `json:"level"`
	Message   string    `json:"message"`
	Timestamp time.Time `json:"timestamp"`
	FlowRunID string    `json:"flow_run_id"`
	TaskRunID string    `json:"task_run_id"`
}

// Event is a Prefect event: one sent with POST /events, or one the event
// stream delivers.
type Event struct {
	ID       string              `json:"id"`
	Occurred time.Time           `json:"occurred"`
	Event    string              `json:"event"`
	Resource map[string]string   `json:"resource"`
	Related  []map[string]string `json:"related"`
	Payload  map[string]any      `json:"payload"`
	Follows  string              `json:"follows,omitempty"`
}

// NewEventID returns a fresh event id (a UUID).
func NewEventID() string { return newUUID() }

// NewTransitionID returns a fresh state transition id (a UUID).
func NewTransitionID() string { return newUUID() }

// formatTime renders t in UTC with microseconds and an explicit offset.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000") + "+00:00"
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// capitalised returns Prefect's default state name for a state type.
func capitalised(stateType string) string {
	if stateType == "" {
		return ""
	}
	lower := strings.ToLower(stateType)
	return strings.ToUpper(lower[:1]) + lower[1:]
}
