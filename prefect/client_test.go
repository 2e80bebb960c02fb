package prefect

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/buildinfo"
)

// fake is a scripted Prefect API: each request gets the next response of
// its route's script (the last one repeats).
type fake struct {
	t       *testing.T
	mu      sync.Mutex
	scripts map[string][]func(w http.ResponseWriter, r *http.Request)
	reqs    []recorded
	srv     *httptest.Server
}

type recorded struct {
	Method, Path, RawPath string
	Header                http.Header
	Body                  []byte
}

func newFake(t *testing.T) *fake {
	f := &fake{t: t, scripts: map[string][]func(http.ResponseWriter, *http.Request){}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) on(methodPath string, steps ...func(w http.ResponseWriter, r *http.Request)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripts[methodPath] = steps
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{r.Method, r.URL.Path, r.URL.EscapedPath(), r.Header.Clone(), body})
	key := r.Method + " " + r.URL.EscapedPath()
	steps := f.scripts[key]
	var step func(http.ResponseWriter, *http.Request)
	if len(steps) > 0 {
		step = steps[0]
		if len(steps) > 1 {
			f.scripts[key] = steps[1:]
		}
	}
	f.mu.Unlock()
	if step == nil {
		http.Error(w, `{"detail":"no script for `+key+`"}`, http.StatusTeapot)
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	step(w, r)
}

func (f *fake) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func status(code int, body string, headers ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		if body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// resetConn drops the connection without an answer.
func resetConn(w http.ResponseWriter, r *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

const runID = "7b8c2f0e-6d0a-4e59-9d43-1f3a6b0c9e11"

// testClient builds a client whose sleeps are recorded instead of slept.
func testClient(t *testing.T, f *fake, mut func(*Config)) (*Client, *[]time.Duration) {
	t.Helper()
	cfg := Config{APIURL: f.srv.URL + "/api", DisableCSRF: true}
	if mut != nil {
		mut(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sleeps []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		sleeps = append(sleeps, d)
		mu.Unlock()
		return ctx.Err()
	}
	c.random = func() float64 { return 0.5 } // jitter factor 1: exact delays
	return c, &sleeps
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	// An hour ahead: scheduling delays of the test cannot matter.
	date := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	cases := []struct {
		name       string
		retryAfter string
		min, max   time.Duration
	}{
		{"seconds", "3", 3 * time.Second, 3600 * time.Millisecond},
		{"fraction", "0.5", 500 * time.Millisecond, 600 * time.Millisecond},
		{"http date", date, 55 * time.Minute, 72 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.on("GET /api/flow_runs/"+runID,
				status(429, `{"detail":"slow down"}`, "Retry-After", tc.retryAfter),
				status(200, `{"id":"`+runID+`","name":"r"}`))
			c, sleeps := testClient(t, f, func(c *Config) { c.MaxRetryDelay = 2 * time.Hour })
			fr, err := c.ReadFlowRun(context.Background(), runID)
			if err != nil {
				t.Fatal(err)
			}
			if fr.ID != runID {
				t.Fatalf("id = %q", fr.ID)
			}
			if len(*sleeps) != 1 || (*sleeps)[0] < tc.min || (*sleeps)[0] > tc.max {
				t.Fatalf("sleeps = %v, want one in [%v, %v]", *sleeps, tc.min, tc.max)
			}
		})
	}
}

func TestBackoffIsExponentialAndBounded(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.on("GET /api/work_pools/p", status(503, `{"exception_message":"Service Unavailable"}`))
	c, sleeps := testClient(t, f, func(c *Config) { c.RetryBaseDelay = 10 * time.Millisecond; c.MaxRetries = 4 })
	_, err := c.ReadWorkPool(context.Background(), "p")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || !strings.Contains(err.Error(), "Service Unavailable") {
		t.Fatalf("err = %v, want a 503 APIError with the detail", err)
	}
	want := []time.Duration{20, 40, 80, 160}
	if len(*sleeps) != len(want) {
		t.Fatalf("sleeps = %v, want %d", *sleeps, len(want))
	}
	for i, w := range want {
		if (*sleeps)[i] != w*time.Millisecond {
			t.Errorf("sleep %d = %v, want %v", i, (*sleeps)[i], w*time.Millisecond)
		}
	}
	if n := len(f.requests()); n != 5 {
		t.Fatalf("attempts = %d, want 5", n)
	}
}

func TestJitterStaysWithinTwentyPercent(t *testing.T) {
	t.Parallel()
	c, err := New(Config{APIURL: "http://127.0.0.1:1/api", RetryBaseDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []float64{0, 0.25, 0.5, 0.999} {
		c.random = func() float64 { return r }
		for retry, base := range []time.Duration{2, 4, 8, 16, 32} {
			d := c.backoff(retry)
			lo, hi := time.Duration(float64(base*time.Second)*0.8), time.Duration(float64(base*time.Second)*1.2)
			if d < lo || d > hi {
				t.Errorf("backoff(%d) with r=%v = %v, want in [%v, %v]", retry, r, d, lo, hi)
			}
		}
	}
}

func TestMaxRetryDelayCapsRetryAfter(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.on("GET /api/flows/x", status(503, "", "Retry-After", "3600"), status(200, `{"id":"x"}`))
	c, sleeps := testClient(t, f, func(c *Config) { c.MaxRetryDelay = 2 * time.Second })
	if _, err := c.ReadFlow(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	if len(*sleeps) != 1 || (*sleeps)[0] != 2*time.Second {
		t.Fatalf("sleeps = %v, want [2s]", *sleeps)
	}
}

func TestRetriedStatuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code       int
		idempotent bool
		retried    bool
	}{
		{408, true, true}, {429, false, true}, {502, false, true}, {503, false, true},
		{500, true, true}, {500, false, false},
		{400, true, false}, {401, true, false}, {403, true, false}, {404, true, false},
		{409, true, false}, {422, true, false}, {501, true, false}, {504, true, false},
	}
	for _, tc := range cases {
		f := newFake(t)
		c, _ := testClient(t, f, nil)
		var err error
		if tc.idempotent {
			f.on("GET /api/flows/x", status(tc.code, `{"detail":"boom"}`), status(200, `{"id":"x"}`))
			_, err = c.ReadFlow(context.Background(), "x")
		} else {
			f.on("POST /api/logs/", status(tc.code, `{"detail":"boom"}`), status(201, `null`))
			err = c.CreateLogs(context.Background(), []LogCreate{{Name: "n", Level: LevelInfo, Message: "m", Timestamp: time.Now()}})
		}
		n := len(f.requests())
		if tc.retried && (err != nil || n != 2) {
			t.Errorf("%d idempotent=%v: err=%v attempts=%d, want success after a retry", tc.code, tc.idempotent, err, n)
		}
		if !tc.retried && (err == nil || n != 1) {
			t.Errorf("%d idempotent=%v: err=%v attempts=%d, want an error after one attempt", tc.code, tc.idempotent, err, n)
		}
	}
}

func TestTypedErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code   int
		body   string
		target error
		detail string
	}{
		{404, `{"detail":"Work pool \"p\" not found."}`, ErrNotFound, `Work pool "p" not found.`},
		{401, `{"exception_message":"Unauthorized"}`, ErrUnauthorized, "Unauthorized"},
		{403, `{"detail":"Work pools starting with 'Prefect' are reserved for internal use."}`, ErrForbidden, "reserved for internal use"},
		{409, `{"detail":"A work pool with this name already exists."}`, ErrConflict, "already exists"},
		{422, `{"exception_message":"Invalid request received.","exception_detail":[{"loc":["body","name"],"msg":"Field required","type":"missing"}],"request_body":{}}`, nil, "Invalid request received.: body.name: Field required"},
		{400, `plain text failure`, nil, "plain text failure"},
	}
	for _, tc := range cases {
		f := newFake(t)
		f.on("GET /api/work_pools/p", status(tc.code, tc.body))
		c, sleeps := testClient(t, f, nil)
		_, err := c.ReadWorkPool(context.Background(), "p")
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.code {
			t.Errorf("%d: err = %v, want an APIError with that status", tc.code, err)
			continue
		}
		if !strings.Contains(apiErr.Detail, tc.detail) || !strings.Contains(err.Error(), tc.detail) {
			t.Errorf("%d: detail %q / error %q lacks %q", tc.code, apiErr.Detail, err, tc.detail)
		}
		for _, sentinel := range []error{ErrNotFound, ErrUnauthorized, ErrForbidden, ErrConflict} {
			if got := errors.Is(err, sentinel); got != (sentinel == tc.target) {
				t.Errorf("%d: errors.Is(err, %v) = %v", tc.code, sentinel, got)
			}
		}
		if len(*sleeps) != 0 {
			t.Errorf("%d: retried (%v)", tc.code, *sleeps)
		}
	}
}

func TestConnectionErrors(t *testing.T) {
	t.Parallel()
	t.Run("retried after a first success", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		f.on("GET /api/health", status(200, `true`))
		// A POST: Go's transport itself replays GETs on a broken reused
		// connection, which would hide the client's own retry.
		f.on("POST /api/flow_runs/filter", resetConn, status(200, `[{"id":"x","name":"r"}]`))
		c, sleeps := testClient(t, f, nil)
		if err := c.Health(context.Background()); err != nil {
			t.Fatal(err)
		}
		runs, err := c.FilterFlowRuns(context.Background(), FlowRunFilter{IDs: []string{"x"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].Name != "r" || len(*sleeps) != 1 {
			t.Fatalf("runs %+v sleeps %v", runs, *sleeps)
		}
	})
	t.Run("fail fast before any success", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c, err := New(Config{APIURL: "http://" + addr + "/api"})
		if err != nil {
			t.Fatal(err)
		}
		var slept atomic.Int32
		c.sleep = func(context.Context, time.Duration) error { slept.Add(1); return nil }
		if _, err := c.ReadFlow(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "GET flows/x") {
			t.Fatalf("err = %v, want a connection error naming the call", err)
		}
		if slept.Load() != 0 {
			t.Fatalf("retried %d times before any success", slept.Load())
		}
	})
}

func TestContextCancelStopsRetrying(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.on("GET /api/flows/x", status(503, ``))
	c, err := New(Config{APIURL: f.srv.URL + "/api", RetryBaseDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.ReadFlow(ctx, "x"); done <- err }()
	// Wait for the first attempt, then cancel during the hour-long backoff.
	deadline := time.Now().Add(10 * time.Second)
	for len(f.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestAuthHeaders(t *testing.T) {
	t.Parallel()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pa ss"))
	cases := []struct {
		name, key, auth, want string
	}{
		{"none", "", "", ""},
		{"api key", "pnu_key123", "", "Bearer pnu_key123"},
		{"auth string", "", "user:pa ss", basic},
		{"auth string wins", "pnu_key123", "user:pa ss", basic},
	}
	for _, tc := range cases {
		f := newFake(t)
		f.on("GET /api/flows/x", status(200, `{"id":"x"}`))
		c, _ := testClient(t, f, func(c *Config) { c.APIKey, c.AuthString = tc.key, tc.auth })
		if _, err := c.ReadFlow(context.Background(), "x"); err != nil {
			t.Fatal(err)
		}
		h := f.requests()[0].Header
		if got := h.Get("Authorization"); got != tc.want {
			t.Errorf("%s: Authorization = %q, want %q", tc.name, got, tc.want)
		}
		if got := h.Get("X-Prefect-Api-Version"); got != "0.8.4" {
			t.Errorf("%s: X-PREFECT-API-VERSION = %q", tc.name, got)
		}
		if ua := h.Get("User-Agent"); ua != buildinfo.Get().UserAgent() {
			t.Errorf("%s: User-Agent = %q", tc.name, ua)
		}
	}
}

func TestCustomHeaders(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.on("GET /api/flows/x", status(200, `{"id":"x"}`))
	c, _ := testClient(t, f, func(c *Config) {
		c.CustomHeaders = map[string]string{"X-Proxy-Token": "tok-123", "User-Agent": "evil/1.0"}
		c.UserAgent = "aciworker/1.2.3"
	})
	if _, err := c.ReadFlow(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	h := f.requests()[0].Header
	if h.Get("X-Proxy-Token") != "tok-123" {
		t.Errorf("custom header missing: %v", h)
	}
	if h.Get("User-Agent") != "aciworker/1.2.3" {
		t.Errorf("User-Agent = %q, custom headers must not replace it", h.Get("User-Agent"))
	}
}

func TestCloudShapedURLKeepsPrefix(t *testing.T) {
	t.Parallel()
	prefix := "/api/accounts/0f1e/workspaces/9a8b"
	for _, suffix := range []string{"", "/"} {
		f := newFake(t)
		f.on("GET "+prefix+"/work_pools/my%20pool%20%C3%BC", status(200, `{"name":"my pool ü"}`))
		f.on("GET "+prefix+"/block_types/slug/secret/block_documents/name/a%20b", status(200, `{"name":"a b","data":{"value":"v"}}`))
		c, _ := testClient(t, f, func(c *Config) { c.APIURL = f.srv.URL + prefix + suffix })
		wp, err := c.ReadWorkPool(context.Background(), "my pool ü")
		if err != nil {
			t.Fatal(err)
		}
		if wp.Name != "my pool ü" {
			t.Fatalf("pool %+v", wp)
		}
		if _, err := c.ReadBlockDocumentByName(context.Background(), "secret", "a b"); err != nil {
			t.Fatal(err)
		}
		reqs := f.requests()
		if reqs[1].Header.Get("Accept") == "" || !strings.HasPrefix(reqs[1].RawPath, prefix+"/") {
			t.Fatalf("request %+v", reqs[1])
		}
	}
}

func TestNoSecretInErrors(t *testing.T) {
	t.Parallel()
	const key, auth, hdr = "pnu_SECRETKEY", "admin:SECRETPASS", "SECRETHEADER"
	f := newFake(t)
	// A hostile or buggy server echoing what it got must not make the
	// client print it.
	echo := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		detail, _ := json.Marshal(map[string]any{
			"exception_message": "bad " + r.Header.Get("Authorization") + " " + r.Header.Get("X-Token"),
			"exception_detail":  []map[string]any{{"loc": []string{"body", "data"}, "msg": "Input should be valid", "input": string(body)}},
			"request_body":      string(body),
		})
		w.WriteHeader(422)
		w.Write(detail)
	}
	f.on("POST /api/variables/", echo)
	f.on("GET /api/flows/x", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		io.WriteString(w, "nope "+r.Header.Get("Authorization")+" "+key)
	})
	c, _ := testClient(t, f, func(c *Config) {
		c.APIKey, c.AuthString = key, auth
		c.CustomHeaders = map[string]string{"X-Token": hdr}
	})
	_, err1 := c.CreateVariable(context.Background(), "v", map[string]any{"client_secret": "SECRETVALUE"}, nil)
	_, err2 := c.ReadFlow(context.Background(), "x")
	for _, err := range []error{err1, err2} {
		if err == nil {
			t.Fatal("want an error")
		}
		msg := err.Error()
		for _, secret := range []string{key, auth, hdr, "SECRETVALUE", base64.StdEncoding.EncodeToString([]byte(auth))} {
			if strings.Contains(msg, secret) {
				t.Errorf("error %q contains a secret", msg)
			}
		}
	}
	if !errors.Is(err2, ErrUnauthorized) {
		t.Fatalf("err2 = %v", err2)
	}
}

func TestSetStateRetriesReuseTransitionID(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.on("POST /api/flow_runs/"+runID+"/set_state",
		status(503, ``), status(500, `{"exception_message":"database is locked"}`),
		status(201, `{"status":"ACCEPT","state":{"type":"PENDING","name":"Pending"},"details":{"type":"accept_details"}}`))
	c, _ := testClient(t, f, nil)
	res, err := c.SetFlowRunState(context.Background(), runID, StateCreate{Type: StatePending}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusAccept || res.State == nil || res.State.Type != StatePending {
		t.Fatalf("result %+v", res)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("attempts = %d", len(reqs))
	}
	var ids []string
	for _, r := range reqs {
		var body struct {
			State struct {
				Type, Name   string
				StateDetails map[string]any `json:"state_details"`
				Timestamp    any
				ID           any
			}
			Force *bool
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		var raw map[string]map[string]any
		json.Unmarshal(r.Body, &raw)
		if _, ok := raw["state"]["timestamp"]; ok {
			t.Errorf("state has a timestamp: %s", r.Body)
		}
		if body.State.Name != "Pending" || body.State.StateDetails["flow_run_id"] != runID || body.Force == nil || *body.Force {
			t.Errorf("body %s", r.Body)
		}
		ids = append(ids, body.State.StateDetails["transition_id"].(string))
	}
	if ids[0] == "" || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("transition ids %v, want one non-empty id reused", ids)
	}
	// A new proposal gets a new id.
	f.on("POST /api/flow_runs/"+runID+"/set_state", status(200, `{"status":"ABORT","state":null,"details":{"type":"abort_details","reason":"r"}}`))
	res, err = c.SetFlowRunState(context.Background(), runID, StateCreate{Type: StatePending}, false)
	if err != nil || res.Status != StatusAbort || res.Details.Reason != "r" {
		t.Fatalf("res %+v err %v", res, err)
	}
	var last struct {
		State StateCreate `json:"state"`
	}
	json.Unmarshal(f.requests()[3].Body, &last)
	if last.State.StateDetails.TransitionID == ids[0] {
		t.Fatal("a new proposal reused the previous transition id")
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	t.Run("enabled", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		var fetches atomic.Int32
		f.on("GET /api/csrf-token", func(w http.ResponseWriter, r *http.Request) {
			fetches.Add(1)
			io.WriteString(w, `{"token":"tok-`+r.URL.Query().Get("client")+`","client":"c","expiration":"`+time.Now().Add(time.Hour).Format(time.RFC3339)+`"}`)
		})
		// The first PATCH is refused as if the token had been rotated.
		f.on("PATCH /api/flow_runs/"+runID,
			status(403, `{"detail":"Invalid CSRF token or client identifier."}`),
			func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Prefect-Csrf-Token") != "tok-"+r.Header.Get("Prefect-Csrf-Client") {
					w.WriteHeader(403)
					return
				}
				w.WriteHeader(204)
			})
		f.on("GET /api/flow_runs/"+runID, status(200, `{"id":"`+runID+`"}`))
		c, _ := testClient(t, f, func(c *Config) { c.DisableCSRF = false })
		if _, err := c.ReadFlowRun(context.Background(), runID); err != nil {
			t.Fatal(err)
		}
		if fetches.Load() != 0 {
			t.Fatal("a read fetched a CSRF token")
		}
		for range 2 {
			if err := c.SetInfrastructurePID(context.Background(), runID, "pid"); err != nil {
				t.Fatal(err)
			}
		}
		if fetches.Load() != 2 {
			t.Fatalf("token fetches = %d, want 2 (initial + refresh after 403)", fetches.Load())
		}
		if h := f.requests()[0].Header; h.Get("Prefect-Csrf-Token") != "" {
			t.Fatal("GET carried a CSRF token")
		}
	})
	t.Run("disabled by server", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		f.on("GET /api/csrf-token", status(422, `{"detail":"CSRF protection is disabled."}`))
		f.on("PATCH /api/flow_runs/"+runID, status(204, ``))
		c, _ := testClient(t, f, func(c *Config) { c.DisableCSRF = false })
		for range 3 {
			if err := c.SetInfrastructurePID(context.Background(), runID, "pid"); err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		for _, r := range f.requests() {
			if r.Path == "/api/csrf-token" {
				n++
			}
			if r.Header.Get("Prefect-Csrf-Token") != "" {
				t.Fatal("CSRF header sent while disabled")
			}
		}
		if n != 1 {
			t.Fatalf("csrf fetches = %d, want 1", n)
		}
	})
}

func TestDecodingIsLenientAndKeepsNumbers(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.on("GET /api/flow_runs/"+runID, status(200, `{"id":"`+runID+`","brand_new_field":{"x":1},
		"job_variables":{"cpu":1.0,"memory":2,"big":1e3},"state":{"type":"SCHEDULED","name":"Late","timestamp":"2026-01-02T03:04:05.123456Z",
		"state_details":{"scheduled_time":"2026-01-02T03:04:05+00:00","something_new":true}},
		"infrastructure_pid":null,"start_time":null,"labels":{"a":"b","n":3}}`))
	c, _ := testClient(t, f, nil)
	fr, err := c.ReadFlowRun(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"cpu": "1.0", "memory": "2", "big": "1e3"} {
		if n, ok := fr.JobVariables[k].(json.Number); !ok || string(n) != want {
			t.Errorf("job_variables[%s] = %#v, want json.Number %s", k, fr.JobVariables[k], want)
		}
	}
	if fr.State == nil || fr.State.Name != "Late" || fr.State.StateDetails.ScheduledTime == nil || fr.StartTime != nil || fr.InfrastructurePID != "" {
		t.Fatalf("flow run %+v", fr)
	}
}

func TestLogCreateWireFormat(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 9, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	got, err := json.Marshal([]LogCreate{{Name: "prefect.flow_runs.worker", Level: LevelInfo, Message: "hé", Timestamp: ts, FlowRunID: runID}})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"name":"prefect.flow_runs.worker","level":20,"message":"hé","timestamp":"2026-09-01T11:00:00.123456+00:00","flow_run_id":"` + runID + `","task_run_id":null}]`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"PREFECT_API_URL":                      " https://api.prefect.cloud/api/accounts/a/workspaces/w ",
		"PREFECT_API_KEY":                      "pnu_x",
		"PREFECT_API_AUTH_STRING":              "u:p",
		"PREFECT_API_TLS_INSECURE_SKIP_VERIFY": "True",
		"PREFECT_API_SSL_CERT_FILE":            "/etc/ca.pem",
		"PREFECT_CLIENT_CUSTOM_HEADERS":        `{"X-A":"1"}`,
		"PREFECT_CLIENT_MAX_RETRIES":           "2",
		"PREFECT_API_REQUEST_TIMEOUT":          "7.5",
		"PREFECT_CLIENT_RETRY_EXTRA_CODES":     "[500, 504]",
		"PREFECT_CLIENT_CSRF_SUPPORT_ENABLED":  "false",
	}
	cfg := ConfigFromEnv(func(k string) string { return env[k] })
	if cfg.APIURL != "https://api.prefect.cloud/api/accounts/a/workspaces/w" || cfg.APIKey != "pnu_x" || cfg.AuthString != "u:p" ||
		!cfg.InsecureSkipVerify || cfg.CACertFile != "/etc/ca.pem" || cfg.CustomHeaders["X-A"] != "1" || cfg.MaxRetries != 2 ||
		cfg.RequestTimeout != 7500*time.Millisecond || len(cfg.RetryExtraCodes) != 2 || !cfg.DisableCSRF {
		t.Fatalf("config %+v", cfg)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no url", map[string]string{}, "PREFECT_API_URL"},
		{"bad scheme", map[string]string{"PREFECT_API_URL": "ftp://x/api"}, `"ftp://x/api" is not an http(s) URL`},
		{"bad headers", map[string]string{"PREFECT_API_URL": "http://x/api", "PREFECT_CLIENT_CUSTOM_HEADERS": `{"X":"SECRETVAL"`}, "PREFECT_CLIENT_CUSTOM_HEADERS"},
		{"bad retries", map[string]string{"PREFECT_API_URL": "http://x/api", "PREFECT_CLIENT_MAX_RETRIES": "many"}, `PREFECT_CLIENT_MAX_RETRIES: "many"`},
		{"missing ca", map[string]string{"PREFECT_API_URL": "https://x/api", "PREFECT_API_SSL_CERT_FILE": "/nonexistent/ca.pem"}, "PREFECT_API_SSL_CERT_FILE"},
	}
	for _, tc := range cases {
		_, err := New(ConfigFromEnv(func(k string) string { return tc.env[k] }))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRETVAL") {
			t.Errorf("%s: error leaks a header value: %v", tc.name, err)
		}
	}
}

func TestTLSCACertFile(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "true") }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	// Untrusted by default.
	c, err := New(Config{APIURL: srv.URL + "/api", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Health(context.Background()); err == nil {
		t.Fatal("an untrusted certificate was accepted")
	}
	insecure, err := New(Config{APIURL: srv.URL + "/api", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := insecure.Health(context.Background()); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	pemFile := t.TempDir() + "/ca.pem"
	writePEM(t, pemFile, srv.Certificate().Raw)
	trusted, err := New(Config{APIURL: srv.URL + "/api", CACertFile: pemFile})
	if err != nil {
		t.Fatal(err)
	}
	if err := trusted.Health(context.Background()); err != nil {
		t.Fatalf("with CA file: %v", err)
	}
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// WrapTransport sees every attempt, retries included, with its answer.
func TestWrapTransportSeesEveryAttempt(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.on("GET /api/flows/x", status(503, `{}`), status(200, `{"id":"x"}`))
	var mu sync.Mutex
	var codes []int
	c, _ := testClient(t, f, func(c *Config) {
		c.WrapTransport = func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				resp, err := next.RoundTrip(r)
				if resp != nil {
					mu.Lock()
					codes = append(codes, resp.StatusCode)
					mu.Unlock()
				}
				return resp, err
			})
		}
	})
	if _, err := c.ReadFlow(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(codes) != 2 || codes[0] != 503 || codes[1] != 200 {
		t.Errorf("the wrapper saw %v, want [503 200]", codes)
	}
}
