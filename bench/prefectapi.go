package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// prefectAPI is the handful of Prefect REST calls the bench makes as the
// "user" of the server: set up a deployment, create runs, read their states.
type prefectAPI struct {
	url    string // ends in /api
	client *http.Client
}

func (p *prefectAPI) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("prefect %s %s: encode: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	// The SQLite server answers 500 "database is locked" under load; the
	// bench's own bookkeeping retries rather than failing a row for it.
	var lastErr error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
			if s, ok := rd.(io.Seeker); ok {
				_, _ = s.Seek(0, io.SeekStart)
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, p.url+path, rd)
		if err != nil {
			return fmt.Errorf("prefect %s %s: %w", method, path, err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := p.client.Do(req)
		if err != nil {
			lastErr = fmt.Errorf("prefect %s %s: %w", method, path, err)
			continue
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			lastErr = fmt.Errorf("prefect %s %s: read body: %w", method, path, err)
			continue
		}
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			lastErr = fmt.Errorf("prefect %s %s: %s: %s", method, path, resp.Status, trim(data))
			continue
		}
		if resp.StatusCode >= 300 {
			return fmt.Errorf("prefect %s %s: %s: %s", method, path, resp.Status, trim(data))
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("prefect %s %s: decode: %w", method, path, err)
		}
		return nil
	}
	return lastErr
}

func trim(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func (p *prefectAPI) health(ctx context.Context) error {
	var ok bool
	return p.do(ctx, http.MethodGet, "/health", nil, &ok)
}

type idOnly struct {
	ID string `json:"id"`
}

func (p *prefectAPI) createFlow(ctx context.Context, name string) (string, error) {
	var f idOnly
	err := p.do(ctx, http.MethodPost, "/flows/", map[string]any{"name": name}, &f)
	return f.ID, err
}

// createDeployment registers a deployment whose code is in dir on local
// disk, as flow.from_source(dir, entrypoint).deploy(...) would.
func (p *prefectAPI) createDeployment(ctx context.Context, name, flowID, pool, dir, entrypoint string, jobVars map[string]any) (string, error) {
	body := map[string]any{
		"name":           name,
		"flow_id":        flowID,
		"work_pool_name": pool,
		"entrypoint":     entrypoint,
		"pull_steps": []any{map[string]any{
			"prefect.deployments.steps.set_working_directory": map[string]any{"directory": dir},
		}},
		"job_variables": jobVars,
		"parameters":    map[string]any{},
	}
	var d idOnly
	err := p.do(ctx, http.MethodPost, "/deployments/", body, &d)
	return d.ID, err
}

type flowRun struct {
	ID                string    `json:"id"`
	ExpectedStartTime time.Time `json:"expected_start_time"`
	StateType         string    `json:"state_type"`
	StateName         string    `json:"state_name"`
	State             *struct {
		Message string `json:"message"`
	} `json:"state"`
}

func (p *prefectAPI) createFlowRun(ctx context.Context, deploymentID string) (flowRun, error) {
	var fr flowRun
	err := p.do(ctx, http.MethodPost, "/deployments/"+deploymentID+"/create_flow_run", map[string]any{"parameters": map[string]any{}}, &fr)
	return fr, err
}

// flowRuns returns every run of a deployment.
func (p *prefectAPI) flowRuns(ctx context.Context, deploymentID string) ([]flowRun, error) {
	const page = 200
	var all []flowRun
	for offset := 0; ; offset += page {
		var batch []flowRun
		body := map[string]any{
			"deployments": map[string]any{"id": map[string]any{"any_": []string{deploymentID}}},
			"limit":       page,
			"offset":      offset,
			"sort":        "ID_DESC",
		}
		if err := p.do(ctx, http.MethodPost, "/flow_runs/filter", body, &batch); err != nil {
			return nil, err
		}
		all = append(all, batch...)
		if len(batch) < page {
			return all, nil
		}
	}
}

// countOpen counts the deployment's runs whose state type is not one of
// final.
func (p *prefectAPI) countOpen(ctx context.Context, deploymentID string, final []string) (int, error) {
	body := map[string]any{
		"deployments": map[string]any{"id": map[string]any{"any_": []string{deploymentID}}},
		"flow_runs":   map[string]any{"state": map[string]any{"type": map[string]any{"not_any_": final}}},
	}
	var n int
	err := p.do(ctx, http.MethodPost, "/flow_runs/count", body, &n)
	return n, err
}

// workerCount returns how many workers of the pool have sent a heartbeat.
func (p *prefectAPI) workerCount(ctx context.Context, pool string) (int, error) {
	var ws []idOnly
	err := p.do(ctx, http.MethodPost, "/work_pools/"+pool+"/workers/filter", map[string]any{}, &ws)
	return len(ws), err
}

// setPoolPaused pauses or resumes a work pool: runs of a paused pool are
// not handed to workers, so a row can create all its runs first and release
// them at one instant.
func (p *prefectAPI) setPoolPaused(ctx context.Context, pool string, paused bool) error {
	return p.do(ctx, http.MethodPatch, "/work_pools/"+pool, map[string]any{"is_paused": paused}, nil)
}

// forceState moves a run to a state regardless of orchestration rules; the
// bench uses it to retire runs still open at a row's deadline.
func (p *prefectAPI) forceState(ctx context.Context, id, typ, msg string) error {
	body := map[string]any{
		"state": map[string]any{"type": typ, "name": strings.ToUpper(typ[:1]) + strings.ToLower(typ[1:]), "message": msg},
		"force": true,
	}
	return p.do(ctx, http.MethodPost, "/flow_runs/"+id+"/set_state", body, nil)
}
