package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/worker"
)

// helmArgs is the argument list prefect-helm's prefect-worker chart passes
// (charts/prefect-worker/templates/deployment.yaml) with every optional
// value set, after its `prefect worker start`.
func helmArgs(pool, name string) []string {
	return []string{
		"--type", "azure-container-instance",
		"--pool", pool,
		"--work-queue", "default",
		"--install-policy", "prompt",
		"--limit", "5",
		"--with-healthcheck",
		"--name", name,
		"--base-job-template", "baseJobTemplate.json",
	}
}

// profileHome writes a PREFECT_HOME whose active profile holds the given
// settings, as `prefect profile create` / `prefect config set` leave it.
func profileHome(t *testing.T, settings map[string]string) string {
	t.Helper()
	home := t.TempDir()
	var sb strings.Builder
	sb.WriteString("active = \"work\"\n\n[profiles.default]\n\n[profiles.work]\n")
	for k, v := range settings {
		fmt.Fprintf(&sb, "%s = %q\n", k, v)
	}
	if err := os.WriteFile(filepath.Join(home, "profiles.toml"), []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

// envWithout drops the named variables from env.
func envWithout(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || k == n
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

func freeTCPPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// A team that swaps `prefect worker start` for aciworker and changes
// nothing else: its settings only in the active profile of PREFECT_HOME,
// the Helm chart's argument list. With --no-create-pool-if-not-found a
// missing pool stops the worker at once, naming the pool; on an existing
// pool the run completes.
func TestProfileSettingsAndHelmArguments(t *testing.T) {
	t.Parallel()
	s := prefecttest.Get(t)
	b := newBed(t, s)
	b.createPool(nil)
	dir := writeFlows(t, helloFlows)
	dep := b.deploy("hello", dir, "flows.py:hello", b.jobVars(b.engineCommand()))
	noImage := b.jobVars(b.engineCommand())
	delete(noImage, "image")
	depNoImage := b.deploy("hello", dir, "flows.py:hello", noImage)

	port := freeTCPPort(t)
	profile := map[string]string{
		"PREFECT_API_URL":               s.APIURL,
		"PREFECT_WORKER_QUERY_SECONDS":  "1",
		"PREFECT_WORKER_WEBSERVER_HOST": "127.0.0.1",
		"PREFECT_WORKER_WEBSERVER_PORT": port,
	}
	if a := s.AuthString(); a != "" {
		profile["PREFECT_API_AUTH_STRING"] = a
	}
	home := profileHome(t, profile)
	workdir := t.TempDir()
	tmpl, err := worker.DefaultBaseJobTemplate()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(tmpl)
	if err := os.WriteFile(filepath.Join(workdir, "baseJobTemplate.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(envWithout(s.CommandEnv(b.emu.Env()...), "PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "PREFECT_HOME"),
		"PREFECT_HOME="+home)

	// A pool managed elsewhere that is missing: a prompt, named failure.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	missing := "missing-" + randomSuffix()
	cmd := exec.CommandContext(ctx, aciworkerBinary(t), append([]string{"start"},
		append(helmArgs(missing, "helm-"+randomSuffix()), "--no-create-pool-if-not-found")...)...)
	cmd.Env, cmd.Dir = env, workdir
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil || err == nil {
		t.Fatalf("a missing pool with --no-create-pool-if-not-found: %v (context %v), want a prompt non-zero exit:\n%s", err, ctx.Err(), out)
	}
	if !strings.Contains(string(out), missing) {
		t.Errorf("the error does not name the pool %q:\n%s", missing, out)
	}
	if _, err := b.pf.ReadWorkPool(context.Background(), missing); err == nil {
		t.Errorf("the pool %q was created", missing)
	}

	name := "helm-" + randomSuffix()
	proc := exec.Command(aciworkerBinary(t), append([]string{"start", "--debug"}, helmArgs(b.pool, name)...)...)
	proc.Env, proc.Dir = env, workdir
	wout := &syncBuffer{}
	proc.Stdout, proc.Stderr = wout, wout
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			proc.Process.Kill()
			proc.Wait()
		}
		if t.Failed() {
			t.Logf("worker log:\n%s", tail(wout.String(), 8000))
		}
	})

	id := b.runDeployment(dep, nil)
	idNoImage := b.runDeployment(depNoImage, nil)
	for _, run := range []string{id, idNoImage} {
		if fr := b.waitFinal(run, 3*time.Minute); fr.StateType != prefect.StateCompleted {
			t.Fatalf("run %s: state %s (%s), want COMPLETED", run, fr.StateType, stateMessage(fr))
		}
	}
	// The default image follows the server's Prefect version.
	version, err := b.pf.ServerVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantImage := "using prefecthq/prefect:" + version + "-python" + worker.DefaultPython
	if logs := b.logs(idNoImage); !strings.Contains(logs, wantImage) {
		t.Errorf("the run without an image: logs lack %q:\n%s", wantImage, logs)
	}
	if logs := b.logs(id); strings.Contains(logs, "sets no image") {
		t.Errorf("the run with an image got the default:\n%s", logs)
	}
	health, err := http.Get("http://127.0.0.1:" + port + "/health")
	if err != nil {
		t.Errorf("the health check on the profile's port: %v", err)
	} else {
		health.Body.Close()
	}

	proc.Process.Signal(os.Interrupt)
	werr := proc.Wait()
	stopped = true
	if werr != nil {
		t.Errorf("the worker exited with %v", werr)
	}
	log := wout.String()
	for _, want := range []string{
		"--install-policy is accepted and ignored",
		`setting=PREFECT_API_URL source="profile \"work\""`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the worker log lacks %q", want)
		}
	}
	if a := s.AuthString(); a != "" && strings.Contains(log, a) {
		t.Errorf("the worker log shows the auth string")
	}

	// The run is findable in Azure from its logs.
	es := b.emu.Settings()
	groupID := "/subscriptions/" + es.SubscriptionID + "/resourceGroups/" + es.ResourceGroup + "/providers/Microsoft.ContainerInstance/containerGroups/"
	logs := b.logs(id)
	for _, want := range []string{groupID, "az container logs --ids " + groupID, "az container show --ids " + groupID} {
		if !strings.Contains(logs, want) {
			t.Errorf("the flow run's logs lack %q:\n%s", want, logs)
		}
	}

	checkWorkerEvents(t, b, name, id)
}

// checkWorkerEvents reads the worker's four events back through Prefect's
// events API and checks what automations key on.
func checkWorkerEvents(t *testing.T, b *bed, workerName, runID string) {
	t.Helper()
	resource := "prefect.worker.azure-container-instance." + strings.ToLower(workerName)
	byName := map[string]prefect.Event{}
	waitFor(t, 60*time.Second, "the worker's four events", func() (bool, error) {
		evs, err := b.pf.ReadEvents(context.Background(), []string{"prefect.worker."}, []string{resource}, 50)
		if err != nil {
			return false, err
		}
		for _, ev := range evs {
			// The worker ran two flow runs: keep the run events of runID.
			if ev.Event == worker.EventSubmittedRun || ev.Event == worker.EventExecutedRun {
				mine := false
				for _, r := range ev.Related {
					mine = mine || r["prefect.resource.id"] == "prefect.flow-run."+runID
				}
				if !mine {
					continue
				}
			}
			byName[ev.Event] = ev
		}
		return len(byName) == 4, fmt.Errorf("have %d of 4", len(byName))
	})
	pool, err := b.pf.ReadWorkPool(context.Background(), b.pool)
	if err != nil {
		t.Fatal(err)
	}
	hasRelated := func(ev prefect.Event, id, role string) map[string]string {
		for _, r := range ev.Related {
			if r["prefect.resource.id"] == id && r["prefect.resource.role"] == role {
				return r
			}
		}
		t.Errorf("%s has no related %s %s: %v", ev.Event, role, id, ev.Related)
		return nil
	}
	for _, name := range []string{worker.EventWorkerStarted, worker.EventSubmittedRun, worker.EventExecutedRun, worker.EventWorkerStopped} {
		ev := byName[name]
		if ev.Resource["prefect.resource.name"] != workerName || ev.Resource["prefect.worker-type"] != worker.Type {
			t.Errorf("%s resource %v", name, ev.Resource)
		}
		hasRelated(ev, "prefect.work-pool."+pool.ID, "work-pool")
	}
	for _, name := range []string{worker.EventSubmittedRun, worker.EventExecutedRun} {
		hasRelated(byName[name], "prefect.flow-run."+runID, "flow-run")
	}
	if fr := hasRelated(byName[worker.EventExecutedRun], "prefect.flow-run."+runID, "flow-run"); fr != nil {
		if fr["prefect.infrastructure.status-code"] != "0" || fr["prefect.infrastructure.identifier"] == "" {
			t.Errorf("the executed event's flow run lacks its infrastructure: %v", fr)
		}
	}
	if got, want := byName[worker.EventExecutedRun].Follows, byName[worker.EventSubmittedRun].ID; got != want {
		t.Errorf("executed follows %q, want the submitted event %q", got, want)
	}
	if got, want := byName[worker.EventWorkerStopped].Follows, byName[worker.EventWorkerStarted].ID; got != want {
		t.Errorf("stopped follows %q, want the started event %q", got, want)
	}
}
