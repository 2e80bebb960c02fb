// Command standin is a lightweight stand-in for `prefect flow-run execute`
// in benchmarks: it moves the flow run in PREFECT__FLOW_RUN_ID to Running,
// waits, then to Completed through the Prefect REST API, and exits 0. The
// real engine costs seconds of CPU per run, which would measure the engine
// instead of the worker at hundreds of runs.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	sleep := flag.Duration("sleep", 0, "how long the 'flow' runs between Running and Completed")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, *sleep); err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, sleep time.Duration) error {
	id := getenv("PREFECT__FLOW_RUN_ID")
	api := strings.TrimRight(getenv("PREFECT_API_URL"), "/")
	if id == "" || api == "" {
		return fmt.Errorf("PREFECT__FLOW_RUN_ID=%q and PREFECT_API_URL=%q must both be set", id, api)
	}
	c := &client{api: api, key: getenv("PREFECT_API_KEY"), auth: getenv("PREFECT_API_AUTH_STRING"), http: &http.Client{Timeout: 30 * time.Second}}
	if err := c.setState(ctx, id, "RUNNING"); err != nil {
		return err
	}
	fmt.Printf("stand-in flow run %s running for %s\n", id, sleep)
	select {
	case <-time.After(sleep):
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := c.setState(ctx, id, "COMPLETED"); err != nil {
		return err
	}
	fmt.Printf("stand-in flow run %s completed\n", id)
	return nil
}

type client struct {
	api, key, auth string
	http           *http.Client
}

// setState proposes a state, retrying transport errors and 5xx (the SQLite
// server answers 500 under load); a REJECT or ABORT is an error.
func (c *client) setState(ctx context.Context, id, typ string) error {
	body, _ := json.Marshal(map[string]any{"state": map[string]any{
		"type": typ, "name": strings.ToUpper(typ[:1]) + strings.ToLower(typ[1:]),
	}})
	var lastErr error
	for attempt := range 8 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		status, err := c.post(ctx, "/flow_runs/"+id+"/set_state", body)
		if err == nil {
			if status != "ACCEPT" {
				return fmt.Errorf("set state %s on flow run %s: server answered %s", typ, id, status)
			}
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return err
		}
		lastErr = err
	}
	return lastErr
}

type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

func (c *client) post(ctx context.Context, path string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.api+path, bytes.NewReader(body))
	if err != nil {
		return "", &permanentError{err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	switch {
	case c.key != "":
		req.Header.Set("Authorization", "Bearer "+c.key)
	case c.auth != "":
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.auth)))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return "", fmt.Errorf("POST %s: %s", path, resp.Status)
	}
	if resp.StatusCode >= 300 {
		return "", &permanentError{fmt.Sprintf("POST %s: %s: %.200s", path, resp.Status, data)}
	}
	var out struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return "", &permanentError{fmt.Sprintf("POST %s: decode: %v", path, err)}
	}
	return out.Status, nil
}
