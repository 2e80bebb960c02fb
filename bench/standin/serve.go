package main

// Daemon mode: one stand-in process acts for every container of a bench
// row. The emulator's script containers (image aciworker/emulator-script)
// call it with `call URL/running VARS`, sleep, then `call URL/completed
// VARS`; each call answers once the flow run's state is set, so a
// container does not exit before its run is Completed, as with the real
// engine. The flow run and the Prefect API come from the container's
// environment (PREFECT__FLOW_RUN_ID, PREFECT_API_URL, and
// PREFECT_API_KEY or PREFECT_API_AUTH_STRING when set).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// daemon answers the containers' calls.
type daemon struct {
	// allowed are the Prefect API URLs (without a trailing slash) the
	// daemon will talk to: it acts for containers, not for anyone who can
	// reach its port.
	allowed []string
	http    *http.Client
	// slots bounds the Prefect requests in flight: a release of thousands
	// of runs must not become thousands of concurrent requests.
	slots chan struct{}
	// budget bounds how long one call waits for its state, under the
	// script call's own bound (two minutes): a call not answered by then
	// is told to call again, and finds the same proposal still going.
	budget  time.Duration
	backoff time.Duration // first pause between retries
	life    context.Context
	log     *slog.Logger

	mu  sync.Mutex
	ops map[opKey]*op
}

// requestTimeout bounds one Prefect request of the daemon. It is long on
// purpose: a request given up on is still carried out by the server, so
// giving up early and sending another only adds to the load that made it
// slow (at N = 2 000, 30 s timeouts sent thousands of extra proposals to
// a server already at one full core).
const requestTimeout = 5 * time.Minute

// opTimeout bounds one proposal, its wait for a slot and its retries
// included.
const opTimeout = 10 * time.Minute

// opKey is one state of one flow run on one Prefect API.
type opKey struct{ api, id, typ string }

// op is one state being set. Every call for the same run and state waits
// on the same op, so a call that timed out and came again does not send
// the proposal twice; a set state is remembered, and a failed op is
// forgotten once told, so the next call tries again.
type op struct {
	done chan struct{}
	err  error
}

func newDaemon(life context.Context, allowed []string, concurrency int, log *slog.Logger) *daemon {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = concurrency
	d := &daemon{
		http:    &http.Client{Transport: tr, Timeout: requestTimeout},
		slots:   make(chan struct{}, concurrency),
		budget:  90 * time.Second,
		backoff: 500 * time.Millisecond,
		life:    life,
		log:     log,
		ops:     map[opKey]*op{},
	}
	for _, a := range allowed {
		d.allowed = append(d.allowed, strings.TrimRight(a, "/"))
	}
	return d
}

// propose returns the op setting k's state, starting it unless one is
// going or has succeeded.
func (d *daemon) propose(k opKey, c *client) *op {
	d.mu.Lock()
	defer d.mu.Unlock()
	if o, ok := d.ops[k]; ok {
		return o
	}
	o := &op{done: make(chan struct{})}
	d.ops[k] = o
	go func() {
		ctx, cancel := context.WithTimeout(d.life, opTimeout)
		defer cancel()
		o.err = d.setState(ctx, k, c)
		if o.err != nil {
			d.mu.Lock()
			delete(d.ops, k)
			d.mu.Unlock()
		}
		close(o.done)
	}()
	return o
}

// setState sets the state once a slot is free.
func (d *daemon) setState(ctx context.Context, k opKey, c *client) error {
	select {
	case d.slots <- struct{}{}:
		defer func() { <-d.slots }()
	case <-ctx.Done():
		return errBusy
	}
	return c.setState(ctx, k.id, k.typ)
}

// errBusy is an op that found no slot for its Prefect request in time.
var errBusy = errors.New("busy: no slot for the Prefect request in time")

// callBody is what a script container's call step sends.
type callBody struct {
	Group     string            `json:"group"`
	Container string            `json:"container"`
	Env       map[string]string `json:"env"`
}

// targets maps the daemon's paths to the state each sets.
var targets = map[string]string{"/running": "RUNNING", "/completed": "COMPLETED"}

func (d *daemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	typ, ok := targets[r.URL.Path]
	if !ok {
		http.Error(w, fmt.Sprintf("no such path %q: want /running or /completed", r.URL.Path), http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var body callBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		http.Error(w, "decode body: "+err.Error(), http.StatusBadRequest)
		return
	}
	id := body.Env["PREFECT__FLOW_RUN_ID"]
	api := strings.TrimRight(body.Env["PREFECT_API_URL"], "/")
	switch {
	case id == "":
		http.Error(w, "env.PREFECT__FLOW_RUN_ID is missing", http.StatusBadRequest)
		return
	case api == "":
		http.Error(w, "env.PREFECT_API_URL is missing", http.StatusBadRequest)
		return
	case !slices.Contains(d.allowed, api):
		http.Error(w, fmt.Sprintf("env.PREFECT_API_URL %q is not one this stand-in was started for", api), http.StatusForbidden)
		return
	}
	k := opKey{api: api, id: id, typ: typ}
	o := d.propose(k, &client{api: api, key: body.Env["PREFECT_API_KEY"], auth: body.Env["PREFECT_API_AUTH_STRING"], http: d.http, backoff: d.backoff})
	wait := time.NewTimer(d.budget)
	defer wait.Stop()
	select {
	case <-o.done:
	case <-wait.C:
		http.Error(w, "still setting the state; call again", http.StatusServiceUnavailable)
		return
	case <-r.Context().Done():
		return
	}
	err := o.err
	var (
		perm *permanentError
		rej  *rejectedError
	)
	switch {
	case err == nil:
		d.log.Info("state set", "flowRun", id, "state", typ, "group", body.Group)
		fmt.Fprintf(w, "stand-in flow run %s %s\n", id, strings.ToLower(typ))
	case errors.As(err, &perm), errors.As(err, &rej):
		// Retrying cannot help: the caller should fail.
		d.log.Warn("set state refused", "flowRun", id, "state", typ, "group", body.Group, "err", err)
		http.Error(w, err.Error(), http.StatusConflict)
	default:
		d.log.Warn("set state failed", "flowRun", id, "state", typ, "group", body.Group, "err", err)
		http.Error(w, err.Error(), http.StatusBadGateway)
	}
}

// serve runs the daemon on addr until ctx ends, printing STANDIN_URL=...
// to out once it listens.
func serve(ctx context.Context, addr string, d *daemon, out io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "STANDIN_URL=http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		_ = srv.Close()
	}
	<-errc
	return nil
}
