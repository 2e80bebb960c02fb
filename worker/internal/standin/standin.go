// Package standin is a light stand-in for `prefect flow-run execute` in the
// worker's tests: it moves the flow run in PREFECT__FLOW_RUN_ID to Running
// and then to a final state through the Prefect REST API, as the engine
// would, at a tiny fraction of the engine's cost.
package standin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// Main runs the stand-in with its command-line arguments and returns the
// process exit code. Tests run their own binary as the container command
// and call Main from TestMain, so nothing needs building.
func Main(args []string) int {
	fs := flag.NewFlagSet("standin", flag.ContinueOnError)
	sleep := fs.Duration("sleep", 0, "time between Running and the final state")
	final := fs.String("final", "COMPLETED", "final state type (empty: none)")
	exit := fs.Int("exit", 0, "exit code")
	hashEnv := fs.String("hash-env", "", "comma-separated variables whose sha256 to print")
	untilFile := fs.String("until-file", "", "after Running, wait until this file exists (tests order events with it)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, n := range strings.Split(*hashEnv, ",") {
		if n = strings.TrimSpace(n); n != "" {
			sum := sha256.Sum256([]byte(os.Getenv(n)))
			fmt.Printf("sha256 %s=%s\n", n, hex.EncodeToString(sum[:]))
		}
	}
	id := os.Getenv("PREFECT__FLOW_RUN_ID")
	api := strings.TrimRight(os.Getenv("PREFECT_API_URL"), "/")
	if id == "" || api == "" {
		fmt.Fprintln(os.Stderr, "standin: PREFECT__FLOW_RUN_ID and PREFECT_API_URL must be set")
		return 2
	}
	ctx := context.Background()
	if err := setState(ctx, api, id, "RUNNING"); err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		return 1
	}
	fmt.Printf("stand-in flow run %s running\n", id)
	time.Sleep(*sleep)
	if *untilFile != "" {
		for {
			if _, err := os.Stat(*untilFile); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if *final != "" {
		if err := setState(ctx, api, id, strings.ToUpper(*final)); err != nil {
			fmt.Fprintln(os.Stderr, "standin:", err)
			return 1
		}
	}
	fmt.Printf("stand-in flow run %s finished\n", id)
	return *exit
}

// setState proposes a state, retrying transport errors and 5xx: a SQLite
// server answers "database is locked" under load.
func setState(ctx context.Context, api, id, typ string) error {
	var b [16]byte
	rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	tid := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	// A transition id makes a retried proposal idempotent.
	body, _ := json.Marshal(map[string]any{"state": map[string]any{
		"type": typ, "name": strings.ToUpper(typ[:1]) + strings.ToLower(typ[1:]),
		"state_details": map[string]any{"transition_id": tid},
	}})
	var last error
	for attempt := range 30 {
		if attempt > 0 {
			time.Sleep(time.Duration(min(attempt, 5)) * 200 * time.Millisecond)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api+"/flow_runs/"+id+"/set_state", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if h := os.Getenv("PREFECT_CLIENT_CUSTOM_HEADERS"); h != "" {
			var m map[string]string
			if json.Unmarshal([]byte(h), &m) == nil {
				for k, v := range m {
					req.Header.Set(k, v)
				}
			}
		}
		if a := os.Getenv("PREFECT_API_AUTH_STRING"); a != "" {
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(a)))
		} else if k := os.Getenv("PREFECT_API_KEY"); k != "" {
			req.Header.Set("Authorization", "Bearer "+k)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 || resp.StatusCode == 429 {
			last = fmt.Errorf("set_state %s: HTTP %d", typ, resp.StatusCode)
			continue
		}
		if resp.StatusCode >= 300 {
			return fmt.Errorf("set_state %s: HTTP %d: %s", typ, resp.StatusCode, b)
		}
		var res struct {
			Status string
			State  *struct{ Type string }
		}
		json.Unmarshal(b, &res)
		if res.Status != "ACCEPT" && (res.State == nil || res.State.Type != typ) {
			return fmt.Errorf("set_state %s: %s: %s", typ, res.Status, b)
		}
		return nil
	}
	return last
}
