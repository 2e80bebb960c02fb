// Command standin is the soak's light stand-in for `prefect flow-run
// execute`: it records that its container started, moves the flow run in
// PREFECT__FLOW_RUN_ID to Running, stays there for a random short time (so
// that the soak can kill containers mid-run), then proposes the final state
// and exits. It retries Prefect for minutes, because the soak restarts the
// Prefect server while flows run.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() { os.Exit(run(os.Args[1:], os.Getenv)) }

func run(args []string, getenv func(string) string) int {
	fs := flag.NewFlagSet("standin", flag.ContinueOnError)
	sleepMin := fs.Duration("sleep-min", 0, "shortest time in Running")
	sleepMax := fs.Duration("sleep-max", 0, "longest time in Running")
	final := fs.String("final", "COMPLETED", "final state type")
	exit := fs.Int("exit", 0, "exit code after the final state")
	patience := fs.Duration("patience", 4*time.Minute, "how long to retry an unreachable Prefect server")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// A template that leaves text such as an unknown placeholder in the
	// command shows up here as extra words: fail the way a real entrypoint
	// given garbage would, before the flow starts.
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "standin: unexpected arguments %q\n", fs.Args())
		return 3
	}
	id := getenv("PREFECT__FLOW_RUN_ID")
	api := strings.TrimRight(getenv("PREFECT_API_URL"), "/")
	if id == "" || api == "" {
		fmt.Fprintf(os.Stderr, "standin: PREFECT__FLOW_RUN_ID=%q and PREFECT_API_URL=%q must both be set\n", id, api)
		return 2
	}
	if err := mark(getenv("SOAK_MARKS"), id); err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		return 2
	}
	c := &client{api: api, getenv: getenv, http: &http.Client{Timeout: 20 * time.Second}, patience: *patience}
	ctx := context.Background()
	if err := c.setState(ctx, id, "RUNNING"); err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		return 1
	}
	d := *sleepMin
	if *sleepMax > *sleepMin {
		d += mrand.N(*sleepMax - *sleepMin)
	}
	fmt.Printf("stand-in flow run %s running for %s\n", id, d.Round(time.Millisecond))
	time.Sleep(d)
	if err := c.setState(ctx, id, strings.ToUpper(*final)); err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		return 1
	}
	fmt.Printf("stand-in flow run %s finished %s\n", id, strings.ToUpper(*final))
	return *exit
}

// mark appends one line per container start; the soak counts them per flow
// run to prove that no run's container was started twice. O_APPEND writes
// this small are atomic, so concurrent containers do not interleave.
func mark(path, id string) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open marks file: %w", err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "start %s %d\n", id, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("write marks file: %w", err)
	}
	return nil
}

type client struct {
	api      string
	getenv   func(string) string
	http     *http.Client
	patience time.Duration
}

type permanent struct{ error }

// setState proposes a state with one transition id for every attempt, so a
// retry of a proposal the server already applied is recognised as such.
func (c *client) setState(ctx context.Context, id, typ string) error {
	var b [16]byte
	_, _ = rand.Read(b[:])
	tid := hex.EncodeToString(b[:])
	tid = tid[0:8] + "-" + tid[8:12] + "-4" + tid[13:16] + "-a" + tid[17:20] + "-" + tid[20:32]
	body, _ := json.Marshal(map[string]any{"state": map[string]any{
		"type": typ, "name": strings.ToUpper(typ[:1]) + strings.ToLower(typ[1:]),
		"state_details": map[string]any{"transition_id": tid},
	}})
	deadline := time.Now().Add(c.patience)
	var last error
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(min(attempt, 8)) * 250 * time.Millisecond)
		}
		err := c.post(ctx, "/flow_runs/"+id+"/set_state", body, typ)
		var p permanent
		if err == nil || errors.As(err, &p) {
			return err
		}
		last = err
	}
	return fmt.Errorf("set state %s of flow run %s: gave up after %s: %w", typ, id, c.patience, last)
}

func (c *client) post(ctx context.Context, path string, body []byte, typ string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.api+path, bytes.NewReader(body))
	if err != nil {
		return permanent{err}
	}
	req.Header.Set("Content-Type", "application/json")
	if h := c.getenv("PREFECT_CLIENT_CUSTOM_HEADERS"); h != "" {
		var m map[string]string
		if json.Unmarshal([]byte(h), &m) == nil {
			for k, v := range m {
				req.Header.Set(k, v)
			}
		}
	}
	if a := c.getenv("PREFECT_API_AUTH_STRING"); a != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(a)))
	} else if k := c.getenv("PREFECT_API_KEY"); k != "" {
		req.Header.Set("Authorization", "Bearer "+k)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("POST %s: %s", path, resp.Status)
	}
	if resp.StatusCode >= 300 {
		return permanent{fmt.Errorf("POST %s: %s: %.300s", path, resp.Status, data)}
	}
	var out struct {
		Status string `json:"status"`
		State  *struct {
			Type string `json:"type"`
		} `json:"state"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return permanent{fmt.Errorf("POST %s: decode: %w", path, err)}
	}
	// A duplicate of an applied proposal comes back as a REJECT carrying
	// the very state proposed.
	if out.Status == "ACCEPT" || (out.State != nil && out.State.Type == typ) {
		return nil
	}
	return permanent{fmt.Errorf("set state %s: server answered %s: %.300s", typ, out.Status, data)}
}
