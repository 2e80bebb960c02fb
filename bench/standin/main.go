// Command standin is a lightweight stand-in for `prefect flow-run execute`
// in benchmarks: it moves the flow run in PREFECT__FLOW_RUN_ID to Running,
// waits, then to Completed through the Prefect REST API, and exits 0. The
// real engine costs seconds of CPU per run, which would measure the engine
// instead of the worker at hundreds of runs. With --serve it is instead one
// daemon that makes those state changes for every script container of the
// emulator (serve.go), so no run needs a process of its own.
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
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	sleep := flag.Duration("sleep", 0, "how long the 'flow' runs between Running and Completed")
	addr := flag.String("serve", "", "run as a daemon on this address (e.g. 127.0.0.1:0) for the emulator's script containers; prints STANDIN_URL=...")
	apis := flag.String("api-url", "", "with --serve: comma-separated Prefect API URLs the daemon may act on")
	conc := flag.Int("concurrency", 8, "with --serve: Prefect requests in flight at most (each holds one of the server's database connections)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *addr != "" {
		if *apis == "" || *conc <= 0 {
			fmt.Fprintln(os.Stderr, "standin: --serve needs --api-url and a positive --concurrency")
			os.Exit(2)
		}
		d := newDaemon(ctx, strings.Split(*apis, ","), *conc, slog.New(slog.NewTextHandler(os.Stderr, nil)))
		if err := serve(ctx, *addr, d, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "standin:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, os.Getenv, *sleep); err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, sleep time.Duration) error {
	return runWith(ctx, getenv, sleep, 0)
}

// runWith is run with the retry backoff given (0: the default).
func runWith(ctx context.Context, getenv func(string) string, sleep, backoff time.Duration) error {
	id := getenv("PREFECT__FLOW_RUN_ID")
	api := strings.TrimRight(getenv("PREFECT_API_URL"), "/")
	if id == "" || api == "" {
		return fmt.Errorf("PREFECT__FLOW_RUN_ID=%q and PREFECT_API_URL=%q must both be set", id, api)
	}
	c := &client{api: api, key: getenv("PREFECT_API_KEY"), auth: getenv("PREFECT_API_AUTH_STRING"), http: &http.Client{Timeout: 30 * time.Second}, backoff: backoff}
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
	backoff        time.Duration // pause before the second attempt, growing linearly; 0 = 500ms
}

// setState proposes a state, retrying transport errors and 5xx (the SQLite
// server answers 500 under load). A REJECT or ABORT is an error unless the
// run is in that state already: an earlier attempt whose answer was lost
// may have set it.
func (c *client) setState(ctx context.Context, id, typ string) error {
	err := c.proposeState(ctx, id, typ)
	var rej *rejectedError
	if errors.As(err, &rej) {
		if cur, gerr := c.stateType(ctx, id); gerr == nil && cur == typ {
			return nil
		}
	}
	return err
}

// rejectedError is an orchestration answer other than ACCEPT.
type rejectedError struct{ permanentError }

func (c *client) proposeState(ctx context.Context, id, typ string) error {
	body, _ := json.Marshal(map[string]any{"state": map[string]any{
		"type": typ, "name": strings.ToUpper(typ[:1]) + strings.ToLower(typ[1:]),
	}})
	backoff := c.backoff
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	var lastErr error
	for attempt := range 8 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * backoff):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		status, err := c.post(ctx, "/flow_runs/"+id+"/set_state", body)
		if err == nil {
			if status != "ACCEPT" {
				return &rejectedError{permanentError{fmt.Sprintf("set state %s on flow run %s: server answered %s", typ, id, status)}}
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
	var out struct {
		Status string `json:"status"`
	}
	err := c.do(ctx, http.MethodPost, path, body, &out)
	return out.Status, err
}

// stateType reads the flow run's current state type.
func (c *client) stateType(ctx context.Context, id string) (string, error) {
	var out struct {
		State struct {
			Type string `json:"type"`
		} `json:"state"`
	}
	err := c.do(ctx, http.MethodGet, "/flow_runs/"+id, nil, &out)
	return out.State.Type, err
}

// do makes one request and decodes a 2xx answer into out; 5xx, 429 and
// transport errors are retryable, anything else is a permanentError.
func (c *client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.api+path, rd)
	if err != nil {
		return &permanentError{err.Error()}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case c.key != "":
		req.Header.Set("Authorization", "Bearer "+c.key)
	case c.auth != "":
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.auth)))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		// A cut answer (the server or the deadline closed the connection)
		// says nothing about the state: retryable, not a decode failure.
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if resp.StatusCode >= 300 {
		return &permanentError{fmt.Sprintf("%s %s: %s: %.200s", method, path, resp.Status, data)}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &permanentError{fmt.Sprintf("%s %s: decode: %v", method, path, err)}
	}
	return nil
}
