package worker

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/worker/internal/prefectenv"
)

// DefaultCommand is what a flow run's container runs unless the job
// configuration says otherwise (Prefect's _base_flow_run_command).
const DefaultCommand = "prefect flow-run execute"

// Tags put on every container group (merged into the template's own tags).
// They let a restarted worker find its groups and the reconcile loop remove
// leftovers whatever their names.
const (
	TagFlowRunID = "aciworker.flow-run-id"
	TagPool      = "aciworker.pool"
	TagWorker    = "aciworker.worker"
	// TagKeep records keep_container_group, so that reconcile leaves kept
	// groups alone without rebuilding their run's configuration.
	TagKeep = "aciworker.keep"
)

// maxTagValue is Azure's limit on a tag value.
const maxTagValue = 256

// runInfo is what prepare_for_flow_run reads about a run.
type runInfo struct {
	FlowRun    *prefect.FlowRun
	Flow       *prefect.Flow
	Deployment *prefect.Deployment // nil for a run without deployment
	PoolName   string
	WorkerName string
	WorkerID   string // the worker's id in Prefect Cloud, "" elsewhere
}

// baseEnvironment is the worker's client-side Prefect settings (see
// prefectenv.Base).
func baseEnvironment(environ []string) map[string]string { return prefectenv.Base(environ) }

// orderedEnv keeps Python dict semantics: an update keeps a key's first
// position.
type orderedEnv struct {
	names  []string
	values map[string]string
}

func (e *orderedEnv) set(k, v string) {
	if e.values == nil {
		e.values = map[string]string{}
	}
	if _, ok := e.values[k]; !ok {
		e.names = append(e.names, k)
	}
	e.values[k] = v
}

func (e *orderedEnv) del(k string) {
	if _, ok := e.values[k]; !ok {
		return
	}
	delete(e.values, k)
	for i, n := range e.names {
		if n == k {
			e.names = append(e.names[:i], e.names[i+1:]...)
			return
		}
	}
}

// flowRunEnv builds the container environment as prepare_for_flow_run does:
// the worker's Prefect settings, the run's ids, then the templated env,
// where a null deletes a variable.
func flowRunEnv(base map[string]string, ri runInfo, cfg *jobConfig) *orderedEnv {
	env := &orderedEnv{}
	keys := make([]string, 0, len(base))
	for k := range base {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env.set(k, base[k])
	}
	env.set("PREFECT__FLOW_RUN_ID", ri.FlowRun.ID)
	if ri.WorkerID != "" {
		env.set("PREFECT__WORKER_ID", ri.WorkerID)
	}
	if ri.WorkerName != "" {
		env.set("PREFECT__WORKER_NAME", ri.WorkerName)
	}
	if ri.Flow != nil {
		env.set("PREFECT__FLOW_ID", ri.Flow.ID)
		env.set("PREFECT__FLOW_NAME", ri.Flow.Name)
	}
	if ri.Deployment != nil {
		env.set("PREFECT__DEPLOYMENT_ID", ri.Deployment.ID)
		env.set("PREFECT__DEPLOYMENT_NAME", ri.Deployment.Name)
	}
	for _, k := range cfg.EnvOrder {
		env.set(k, cfg.Env[k])
	}
	for k := range cfg.nullEnv {
		env.del(k)
	}
	return env
}

// buildJob turns a run's job configuration into the container group to
// create. secret decides which variables are sent as secure values (the
// user's list, credential-like names and values).
func buildJob(ri runInfo, cfg *jobConfig, base map[string]string, secret *secretRule) (aci.Job, error) {
	group := GroupName(ri.Flow.Name, ri.FlowRun.ID)
	command := cfg.Command
	if command == "" {
		command = DefaultCommand
	}
	argv, err := shellSplit(command)
	if err != nil {
		return aci.Job{}, fmt.Errorf("job configuration field \"command\": %w", err)
	}
	env := flowRunEnv(base, ri, cfg)
	vars := make([]aci.EnvVar, 0, len(env.names))
	for _, k := range env.names {
		v := env.values[k]
		vars = append(vars, aci.EnvVar{Name: k, Value: v, Secret: cfg.secretEnv[k] || secret.isSecret(k, v)})
	}
	shareSecrecy(vars)
	job := aci.Job{
		GroupName:      group,
		DeploymentName: DeploymentName(group),
		Image:          cfg.Image,
		Entrypoint:     cfg.Entrypoint,
		Command:        argv,
		CPU:            cfg.CPU,
		MemoryGB:       cfg.Memory,
		GPUCount:       cfg.GPUCount,
		GPUSKU:         cfg.GPUSKU,
		Env:            vars,
		Identities:     cfg.Identities,
		Registry:       cfg.Registry,
		SubnetIDs:      cfg.SubnetIDs,
		DNSServers:     cfg.DNSServers,
		Tags: map[string]string{
			TagFlowRunID: ri.FlowRun.ID,
			TagPool:      truncate(ri.PoolName, maxTagValue),
			TagWorker:    truncate(ri.WorkerName, maxTagValue),
			TagKeep:      fmt.Sprint(cfg.KeepGroup),
		},
		Template: cfg.ARMTemplate,
	}
	return job, nil
}

// shareSecrecy makes secret every variable whose value holds a secret's
// value: the same auth string under two names must not travel once hidden
// and once in plain text (nor make Prepare refuse the template body).
func shareSecrecy(vars []aci.EnvVar) {
	var secrets []string
	for _, e := range vars {
		if e.Secret && len(e.Value) >= aci.MinSecretLength {
			secrets = append(secrets, e.Value)
		}
	}
	for i := range vars {
		for _, s := range secrets {
			if !vars[i].Secret && strings.Contains(vars[i].Value, s) {
				vars[i].Secret = true
				break
			}
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// shellSplit splits a command line like Python's shlex.split (POSIX mode),
// which prefect-azure uses to turn the command into ACI's argument array.
func shellSplit(s string) ([]string, error) {
	var (
		args    []string
		cur     strings.Builder
		inWord  bool
		quote   rune // 0, '\'' or '"'
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			// shlex: inside double quotes a backslash only escapes \ and ".
			if quote == '"' && r != '\\' && r != '"' {
				cur.WriteRune('\\')
			}
			cur.WriteRune(r)
			escaped = false
			inWord = true
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped = true
			inWord = true
		case r == '\'' || r == '"':
			quote = r
			inWord = true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if escaped && quote == 0 {
		return nil, fmt.Errorf("no escaped character after the final backslash in %q", s)
	}
	if quote != 0 {
		return nil, fmt.Errorf("no closing quotation in %q", s)
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}
