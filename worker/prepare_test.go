package worker

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/prefect"
)

func jsonObj(t *testing.T, s string) map[string]any {
	t.Helper()
	m, err := decodeJSONObject([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestShellSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{"prefect flow-run execute", []string{"prefect", "flow-run", "execute"}, ""},
		{`sh -c 'echo hi; exit 3'`, []string{"sh", "-c", "echo hi; exit 3"}, ""},
		{`a "b c" d\ e`, []string{"a", "b c", "d e"}, ""},
		{`"x\"y" "a\nb"`, []string{`x"y`, `a\nb`}, ""},
		{`''`, []string{""}, ""},
		{"  spaced   out ", []string{"spaced", "out"}, ""},
		{`'open`, nil, "no closing quotation"},
		{`trailing\`, nil, "no escaped character"},
	} {
		got, err := shellSplit(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("shellSplit(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("shellSplit(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseJobConfig(t *testing.T) {
	base := `"resource_group_name": "rg", "subscription_id": "sub", "arm_template": {}`
	for _, tc := range []struct {
		name, body string
		check      func(*jobConfig) bool
		err        string
	}{
		{"defaults", base, func(c *jobConfig) bool {
			return c.Image == "prefecthq/prefect:3-latest" && c.Entrypoint == "/opt/prefect/entrypoint.sh" &&
				c.CPU == 1 && c.Memory == 1 && c.StartTimeout == 240*time.Second && c.PollInterval == 5*time.Second && !c.KeepGroup
		}, ""},
		{"lax coercion", base + `, "cpu": "2", "memory": 1.5, "task_start_timeout_seconds": 30.0, "keep_container_group": "true", "stream_output": true`,
			func(c *jobConfig) bool {
				return c.CPU == 2 && c.Memory == 1.5 && c.StartTimeout == 30*time.Second && c.KeepGroup && c.StreamOutput
			}, ""},
		{"env str coercion and null", base + `, "env": {"A": 1, "B": true, "C": null, "D": "x", "E": 1.0}`,
			func(c *jobConfig) bool {
				return c.Env["A"] == "1" && c.Env["B"] == "True" && c.Env["D"] == "x" && c.Env["E"] == "1.0" && c.nullEnv["C"] && len(c.Env) == 4
			}, ""},
		{"null entrypoint", base + `, "entrypoint": null`, func(c *jobConfig) bool { return c.Entrypoint == "" }, ""},
		{"credentials block", base + `, "aci_credentials": {"client_id": "c", "tenant_id": "t", "client_secret": "s"}`,
			func(c *jobConfig) bool { return c.Credentials.servicePrincipal() }, ""},
		{"registry", base + `, "image_registry": {"registry_url": "r.azurecr.io", "username": "u", "password": "p"}`,
			func(c *jobConfig) bool { return c.Registry != nil && c.Registry.Password == "p" }, ""},
		{"empty credentials block", base + `, "aci_credentials": {"client_id": null, "tenant_id": null, "client_secret": null}`,
			func(c *jobConfig) bool { return !c.Credentials.servicePrincipal() }, ""},
		{"partial credentials block", base + `, "aci_credentials": {"client_id": "c", "tenant_id": null}`, nil,
			`"aci_credentials": a service principal needs client_id, tenant_id and client_secret; the block lacks tenant_id, client_secret`},
		{"credentials block without secret", base + `, "aci_credentials": {"client_id": "c", "tenant_id": "t"}`, nil, `the block lacks client_secret`},
		{"image set", base + `, "image": "registry.example/flows:1"`, func(c *jobConfig) bool { return c.Image == "registry.example/flows:1" && !c.ImageDefaulted }, ""},
		{"image left to the worker", base + `, "image": null`, func(c *jobConfig) bool { return c.ImageDefaulted }, ""},
		{"missing rg", `"subscription_id": "sub", "arm_template": {}`, nil, `"resource_group_name": is required`},
		{"bad cpu", base + `, "cpu": "lots"`, nil, `"cpu": must be a number, got "lots"`},
		{"bad label", base + `, "labels": {"a": 1}`, nil, `"labels.a": must be a string`},
		{"fractional int", base + `, "task_start_timeout_seconds": 1.5`, nil, "task_start_timeout_seconds"},
		{"no template", `"resource_group_name": "rg", "subscription_id": "sub"`, nil, `"arm_template": is required`},
		{"poll interval clamped up", base + `, "task_watch_poll_interval": 0.000001`, func(c *jobConfig) bool {
			return c.PollInterval == time.Second && len(c.Warnings) == 1 && strings.Contains(c.Warnings[0], "task_watch_poll_interval")
		}, ""},
		{"poll interval clamped down", base + `, "task_watch_poll_interval": 1e300`, func(c *jobConfig) bool {
			return c.PollInterval == 5*time.Minute && len(c.Warnings) == 1
		}, ""},
		{"start timeout clamped down without overflow", base + `, "task_start_timeout_seconds": 99999999999`, func(c *jobConfig) bool {
			return c.StartTimeout == 2*time.Hour && len(c.Warnings) == 1 && strings.Contains(c.Warnings[0], "task_start_timeout_seconds")
		}, ""},
		{"start timeout clamped up", base + `, "task_start_timeout_seconds": 0`, func(c *jobConfig) bool {
			return c.StartTimeout == 10*time.Second && len(c.Warnings) == 1
		}, ""},
		{"in bounds: no warning", base + `, "task_start_timeout_seconds": 600, "task_watch_poll_interval": 2.5`, func(c *jobConfig) bool {
			return c.StartTimeout == 600*time.Second && c.PollInterval == 2500*time.Millisecond && len(c.Warnings) == 0
		}, ""},
	} {
		c, err := parseJobConfig(jsonObj(t, "{"+tc.body+"}"))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !tc.check(c) {
			t.Errorf("%s: unexpected config %+v", tc.name, c)
		}
	}
}

// Fields that hold credentials are described by type only: a string given
// where a block belongs is often the secret itself.
func TestJobConfigErrorsDoNotEchoCredentials(t *testing.T) {
	const secret = "short-client-secret"
	base := `"resource_group_name": "rg", "subscription_id": "sub", "arm_template": {}`
	for _, field := range []string{"aci_credentials", "image_registry", "env"} {
		_, err := parseJobConfig(jsonObj(t, "{"+base+`, "`+field+`": "`+secret+`"}`))
		if err == nil || !strings.Contains(err.Error(), `"`+field+`"`) || !strings.Contains(err.Error(), "a string") {
			t.Errorf("%s given a string: error %v, want one naming the field and the type", field, err)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("%s given a string: the error echoes it: %v", field, err)
		}
	}
}

func TestBuildJob(t *testing.T) {
	cfg, err := parseJobConfig(jsonObj(t, `{"resource_group_name": "rg", "subscription_id": "sub", "arm_template": {},
		"env": {"PREFECT__FLOW_RUN_ID": "overridden", "PREFECT_LOGGING_LEVEL": null, "DB_PASSWORD": "pw", "LISTED": "v", "PLAIN": "p"},
		"command": "python -m app 'a b'"}`))
	if err != nil {
		t.Fatal(err)
	}
	base := baseEnvironment([]string{"PREFECT_API_URL=http://x/api", "PREFECT_API_KEY=key", "PREFECT__WORKER_NAME=not-a-setting", "PREFECT_LOGGING_LEVEL=DEBUG", "HOME=/root"})
	ri := runInfo{
		FlowRun:    &prefect.FlowRun{ID: "0b4c7a52-9d3e-4f1a-8c2b-6e5d4f3a2b1c", Name: "run"},
		Flow:       &prefect.Flow{ID: "f1", Name: "My Flow"},
		Deployment: &prefect.Deployment{ID: "d1", Name: "dep"},
		PoolName:   "pool", WorkerName: "w",
	}
	rule, err := newSecretRule(map[string]any{"secret_env": []any{"listed"}})
	if err != nil {
		t.Fatal(err)
	}
	job, err := buildJob(ri, cfg, base, rule)
	if err != nil {
		t.Fatal(err)
	}
	if job.GroupName != "my-flow-"+ri.FlowRun.ID || job.DeploymentName != "prefect-"+job.GroupName {
		t.Errorf("names %q %q", job.GroupName, job.DeploymentName)
	}
	if want := []string{"python", "-m", "app", "a b"}; !reflect.DeepEqual(job.Command, want) {
		t.Errorf("command %q, want %q", job.Command, want)
	}
	got := map[string]string{}
	secret := map[string]bool{}
	var names []string
	for _, e := range job.Env {
		got[e.Name], secret[e.Name] = e.Value, e.Secret
		names = append(names, e.Name)
	}
	want := map[string]string{
		"PREFECT_API_URL": "http://x/api", "PREFECT_API_KEY": "key", "PREFECT__FLOW_RUN_ID": "overridden",
		"PREFECT__WORKER_NAME": "w", "PREFECT__FLOW_ID": "f1", "PREFECT__FLOW_NAME": "My Flow",
		"PREFECT__DEPLOYMENT_ID": "d1", "PREFECT__DEPLOYMENT_NAME": "dep",
		"DB_PASSWORD": "pw", "LISTED": "v", "PLAIN": "p",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env %v\nwant %v", got, want)
	}
	for name, s := range map[string]bool{"PREFECT_API_KEY": true, "DB_PASSWORD": true, "LISTED": true, "PLAIN": false, "PREFECT_API_URL": false} {
		if secret[name] != s {
			t.Errorf("%s secret = %v, want %v", name, secret[name], s)
		}
	}
	if names[0] != "PREFECT_API_KEY" || names[len(names)-1] != "PLAIN" {
		t.Errorf("env order %v: base settings first, templated env last", names)
	}
	if job.Tags[TagFlowRunID] != ri.FlowRun.ID || job.Tags[TagPool] != "pool" || job.Tags[TagWorker] != "w" || job.Tags[TagKeep] != "false" {
		t.Errorf("tags %v", job.Tags)
	}
	if vals := secretValues(job); !reflect.DeepEqual(sortedStrings(vals), []string{"key", "pw", "v"}) {
		t.Errorf("secret values %v", vals)
	}
}

// Issue 16 item 1: a value shared by a secret and a plain variable travels
// hidden under both names, and Prepare accepts the job.
func TestSharedSecretValueStaysSecret(t *testing.T) {
	const auth = "admin:srv-auth-0f3c"
	cfg, err := parseJobConfig(jsonObj(t, `{"resource_group_name": "rg", "subscription_id": "sub", "arm_template": {},
		"env": {"COPY_OF_AUTH": "admin:srv-auth-0f3c", "HEADER": "Basic admin:srv-auth-0f3c", "SHORT": "1", "FEATURE_TOKEN": "1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ARMTemplate = nil
	ri := runInfo{FlowRun: &prefect.FlowRun{ID: "0b4c7a52-9d3e-4f1a-8c2b-6e5d4f3a2b1c"}, Flow: &prefect.Flow{ID: "f", Name: "f"}}
	rule, _ := newSecretRule(nil)
	job, err := buildJob(ri, cfg, baseEnvironment([]string{"PREFECT_API_AUTH_STRING=" + auth}), rule)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range job.Env {
		want := e.Name != "SHORT" && !strings.HasPrefix(e.Name, "PREFECT__")
		if e.Secret != want {
			t.Errorf("%s secret = %v, want %v", e.Name, e.Secret, want)
		}
	}
	job.Image, job.Location = "img", "westeurope"
	if _, err := aci.Prepare(job); err != nil {
		t.Errorf("Prepare: %v", err)
	}
}

func sortedStrings(s []string) []string {
	m := map[string]bool{}
	for _, x := range s {
		m[x] = true
	}
	return sortedKeys(m)
}

func TestSecretRule(t *testing.T) {
	r, err := newSecretRule(map[string]any{"secret_env": "A, b"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"A": true, "B": true, "C": false, "PREFECT_API_AUTH_STRING": true, "PREFECT_CLIENT_CUSTOM_HEADERS": true,
		"GITHUB_TOKEN": true, "OPENAI_API_KEY": true, "X_SECRET": true, "TOKENIZER": false, "API_KEY_ID": false,
		"PREFECT_SERVER_API_AUTH_STRING": true, "STORAGE_ACCOUNT_KEY": true, "TOKEN": true, "PASSWORD": true,
		"DB_CONNECTION_STRING": true, "MONKEY": false,
	} {
		if got := r.isSecret(name, "plain"); got != want {
			t.Errorf("isSecret(%q) = %v, want %v", name, got, want)
		}
	}
	// A URL with userinfo authenticates whatever its name.
	for value, want := range map[string]bool{
		"postgresql+asyncpg://prefect:pw@db:5432/prefect": true, "https://user@host/x": true,
		"--url redis://:pw@cache:6379/0": true, "https://host/x?a=b@c": false, "user@example.com": false,
	} {
		if got := r.isSecret("DATABASE_URL", value); got != want {
			t.Errorf("isSecret(DATABASE_URL, %q) = %v, want %v", value, got, want)
		}
	}
	if _, err := newSecretRule(map[string]any{"secret_env": json.Number("1")}); err == nil || !strings.Contains(err.Error(), `"secret_env"`) {
		t.Errorf("a number for secret_env: error %v", err)
	}
	if _, err := newSecretRule(map[string]any{"secret_env": []any{"A", true}}); err == nil {
		t.Error("a bool in secret_env: no error")
	}
}

func TestRedactor(t *testing.T) {
	d := newRedactor("s3cret", "")
	d.add("s3cret-longer")
	if got := d.String("a s3cret-longer and s3cret"); got != "a *** and ***" {
		t.Errorf("redacted %q", got)
	}
	if got := newRedactor().String("plain"); got != "plain" {
		t.Errorf("nothing to redact: %q", got)
	}
}

// Issue 16 item 3: {{ $VAR }} cannot read the worker's credentials or any
// variable the secret rule marks secret; the refusal names each of them.
func TestResolverWithholdsWorkerSecrets(t *testing.T) {
	env := map[string]string{
		"AZURE_CLIENT_SECRET": "azure-secret-value", "AZURE_SUBSCRIPTION_ID": "sub-1", "GITHUB_TOKEN": "ghp-abcdefgh",
		"DB": "postgresql://u:pw@db/x", "COPY": "prefix-azure-secret-value", "SHORT_TOKEN": "1",
	}
	for _, tc := range []struct {
		ref     string
		refused []string
	}{
		{"{{ $AZURE_SUBSCRIPTION_ID }}", nil},
		{"{{ $AZURE_CLIENT_SECRET }}", []string{"AZURE_CLIENT_SECRET"}},
		{"{{ $GITHUB_TOKEN }}-{{ $DB }}", []string{"GITHUB_TOKEN", "DB"}},
		{"{{ $COPY }}", []string{"COPY"}},
		{"{{ $SHORT_TOKEN }}", []string{"SHORT_TOKEN"}},
	} {
		r := &resolver{env: env, secrets: workerSecrets(env)}
		tmpl := map[string]any{"job_configuration": map[string]any{"env": map[string]any{"X": tc.ref}}, "variables": map[string]any{}}
		out, err := renderTemplate(t.Context(), tmpl, nil, r)
		if err != nil {
			t.Fatal(err)
		}
		err = r.refusal()
		if len(tc.refused) == 0 {
			if err != nil {
				t.Errorf("%s: refused: %v", tc.ref, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: not refused (rendered %v)", tc.ref, out)
			continue
		}
		for _, n := range tc.refused {
			if !strings.Contains(err.Error(), "$"+n) {
				t.Errorf("%s: the refusal does not name $%s: %v", tc.ref, n, err)
			}
		}
		for _, v := range env {
			if len(v) > 1 && strings.Contains(err.Error(), v) {
				t.Errorf("%s: the refusal echoes a value: %v", tc.ref, err)
			}
		}
	}
}
