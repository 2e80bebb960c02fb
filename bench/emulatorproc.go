package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// emulatorEnvKeys are the variables `aciworker emulator` prints once ready.
var emulatorEnvKeys = []string{
	"ACIWORKER_ARM_ENDPOINT", "AZURE_AUTHORITY_HOST", "SSL_CERT_FILE",
	"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
	"AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP",
}

// emulatorProc is `aciworker emulator` running as a child process.
type emulatorProc struct {
	proc   *proc
	env    map[string]string
	client *http.Client // trusts the emulator's CA
	admin  string       // base URL of the admin API
}

func startEmulator(ctx context.Context, bin, addr, prefectBin, logDir string, throttling bool, maxGroups int) (*emulatorProc, error) {
	args := []string{"emulator", "--addr", addr,
		"--tls-name", "management.azure.com", "--tls-name", "login.microsoftonline.com", "--tls-name", "127.0.0.1",
		"--prefect-bin", prefectBin}
	if !throttling {
		args = append(args, "--no-throttling")
	}
	// ACI's default regional quota (100 groups, 100 cores) would turn a
	// large row into a quota test; raise it when the emulator allows.
	if help, _ := exec.CommandContext(ctx, bin, "emulator", "--help").CombinedOutput(); maxGroups > 0 {
		for _, f := range []string{"--max-groups", "--max-cores"} {
			if strings.Contains(string(help), f) {
				args = append(args, f, strconv.Itoa(maxGroups))
			}
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = baseEnv()
	p, env, err := startPrinting(ctx, "emulator", cmd, logDir, emulatorEnvKeys)
	if err != nil {
		return nil, err
	}
	e := &emulatorProc{proc: p, env: env, admin: strings.TrimRight(env["ACIWORKER_ARM_ENDPOINT"], "/") + "/_emulator"}
	e.client, err = clientTrusting(env["SSL_CERT_FILE"])
	if err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	return e, nil
}

func (e *emulatorProc) stop() { e.proc.stop(15 * time.Second) }

// clientTrusting returns an HTTP client that trusts the system roots plus
// the PEM certificates in caFile.
func clientTrusting(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("emulator CA: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("emulator CA %s: no PEM certificate in it", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

func (e *emulatorProc) getJSON(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.admin+path, nil)
	if err != nil {
		return err
	}
	// The admin API answers only to the emulator's client secret.
	req.Header.Set("Authorization", "Bearer "+e.env["AZURE_CLIENT_SECRET"])
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("emulator admin GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("emulator admin GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("emulator admin GET %s: %s: %s", path, resp.Status, trim(data))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("emulator admin GET %s: decode: %w", path, err)
	}
	return nil
}

// counters is requests by operation and HTTP status.
type counters map[string]map[int]int

func (e *emulatorProc) counters(ctx context.Context) (counters, error) {
	var raw json.RawMessage
	if err := e.getJSON(ctx, "/counters", &raw); err != nil {
		return nil, err
	}
	return parseCounters(raw)
}

// parseCounters accepts the admin API's counters document: either the
// operation map itself or an object holding it under "byOp"/"ByOp".
func parseCounters(raw []byte) (counters, error) {
	var wrapped struct {
		ByOp  map[string]map[string]int `json:"byOp"`
		ByOp2 map[string]map[string]int `json:"ByOp"`
	}
	var m map[string]map[string]int
	if err := json.Unmarshal(raw, &wrapped); err == nil && (wrapped.ByOp != nil || wrapped.ByOp2 != nil) {
		m = wrapped.ByOp
		if m == nil {
			m = wrapped.ByOp2
		}
	} else if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("emulator counters: %w", err)
	}
	c := counters{}
	for op, byStatus := range m {
		c[op] = map[int]int{}
		for s, n := range byStatus {
			var code int
			if _, err := fmt.Sscanf(s, "%d", &code); err != nil {
				return nil, fmt.Errorf("emulator counters: op %s: status %q is not a number", op, s)
			}
			c[op][code] = n
		}
	}
	return c, nil
}

// String lists the operations, most requested first, with their
// requests by status.
func (c counters) String() string {
	ops := slices.Collect(maps.Keys(c))
	slices.SortFunc(ops, func(a, b string) int {
		if d := c.count(b) - c.count(a); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	for _, op := range ops {
		fmt.Fprintf(&b, "%6d %s", c.count(op), op)
		for _, s := range slices.Sorted(maps.Keys(c[op])) {
			fmt.Fprintf(&b, " %d:%d", s, c[op][s])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// sub returns c minus an earlier snapshot.
func (c counters) sub(before counters) counters {
	out := counters{}
	for op, m := range c {
		for s, n := range m {
			if d := n - before[op][s]; d != 0 {
				if out[op] == nil {
					out[op] = map[int]int{}
				}
				out[op][s] = d
			}
		}
	}
	return out
}

func (c counters) count(op string) int {
	n := 0
	for _, v := range c[op] {
		n += v
	}
	return n
}

// succeeded counts op's answers below 300.
func (c counters) succeeded(op string) int {
	n := 0
	for s, k := range c[op] {
		if s < 300 {
			n += k
		}
	}
	return n
}

func (c counters) status(code int) int {
	n := 0
	for _, m := range c {
		n += m[code]
	}
	return n
}

// armKind classifies an operation the way ARM's throttling buckets do:
// GETs are reads; PUT, POST and DELETE are writes (deletes have their own
// bucket in ARM and are counted with writes here). Entra ID calls are not ARM.
func armKind(op string) string {
	switch op {
	case "token", "openidConfiguration", "instanceDiscovery":
		return "entra"
	}
	_, verb, ok := strings.Cut(op, ".")
	if !ok {
		return "other"
	}
	switch verb {
	case "get", "list", "listBySubscription", "logs":
		return "read"
	case "put", "delete", "stop", "start", "restart", "cancel", "exportTemplate":
		return "write"
	}
	return "other"
}

func (c counters) reads() int  { return c.kind("read") }
func (c counters) writes() int { return c.kind("write") }
func (c counters) kind(k string) int {
	n := 0
	for op := range c {
		if armKind(op) == k {
			n += c.count(op)
		}
	}
	return n
}

// requestEntry is one line of the emulator's request log.
type requestEntry struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Op     string    `json:"op"`
	Status int       `json:"status"`
}

// requests returns the emulator's request log. The log is a bounded ring,
// so a row reads it every few seconds rather than once at the end; the
// filter is a hint the emulator may ignore (the bench filters again).
func (e *emulatorProc) requests(ctx context.Context) ([]requestEntry, error) {
	var out []requestEntry
	if err := e.getJSON(ctx, "/requests?op=deployments.put", &out); err != nil {
		return nil, err
	}
	return out, nil
}

// putTracker accumulates first deployment PUT times across reads of the
// request log.
type putTracker struct{ first map[string]time.Time }

func (p *putTracker) collect(ctx context.Context, e *emulatorProc) error {
	entries, err := e.requests(ctx)
	if err != nil {
		return err
	}
	if p.first == nil {
		p.first = map[string]time.Time{}
	}
	for id, t := range firstDeploymentPUTs(entries) {
		if old, ok := p.first[id]; !ok || t.Before(old) {
			p.first[id] = t
		}
	}
	return nil
}

// since lists each run's first accepted PUT, earliest first: seconds since
// start and the flow run id, one a line.
func (p *putTracker) since(start time.Time) string {
	ids := slices.Collect(maps.Keys(p.first))
	slices.SortFunc(ids, func(a, b string) int { return p.first[a].Compare(p.first[b]) })
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%.3f\t%s\n", p.first[id].Sub(start).Seconds(), id)
	}
	return b.String()
}

var uuidAtEnd = regexp.MustCompile(`([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)

// firstDeploymentPUTs maps a flow run id to the time of the first accepted
// PUT of a deployment whose name ends with that id (both workers name the
// group "<flow name>-<run id>" and the deployment "prefect-<group>").
func firstDeploymentPUTs(entries []requestEntry) map[string]time.Time {
	out := map[string]time.Time{}
	for _, e := range entries {
		if e.Op != "deployments.put" || e.Status >= 300 {
			continue
		}
		path, _, _ := strings.Cut(e.Path, "?")
		i := strings.Index(strings.ToLower(path), "/deployments/")
		if i < 0 {
			continue
		}
		m := uuidAtEnd.FindStringSubmatch(strings.ToLower(strings.TrimRight(path[i+len("/deployments/"):], "/")))
		if m == nil {
			continue
		}
		if t, ok := out[m[1]]; !ok || e.Time.Before(t) {
			out[m[1]] = e.Time
		}
	}
	return out
}
