package worker

import (
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/internal/backoff"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/prefectaci"
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

// Every field of the table refuses a value of the wrong kind (a list of
// numbers is wrong for each of them) with an error naming that field.
func TestJobConfigFieldsNameThemselves(t *testing.T) {
	t.Parallel()
	base := map[string]any{"resource_group_name": "rg", "subscription_id": "sub", "arm_template": map[string]any{}}
	for _, f := range jobConfigFields {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			m := maps.Clone(base)
			m[f.name] = []any{json.Number("1")}
			_, err := parseJobConfig(m)
			if err == nil || !strings.HasPrefix(err.Error(), `job configuration field "`+f.name+`": `) {
				t.Fatalf("error %v, want one naming %q", err, f.name)
			}
		})
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
	if job.Template, err = prefectaci.DefaultTemplate(job); err != nil {
		t.Fatal(err)
	}
	if _, err := aci.Prepare(job); err != nil {
		t.Errorf("Prepare: %v", err)
	}
}

func sortedStrings(s []string) []string {
	m := map[string]bool{}
	for _, x := range s {
		m[x] = true
	}
	return slices.Sorted(maps.Keys(m))
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

// Issue 16 item 5: redaction is per run. One run's short secret does not
// garble anything; its long secret is hidden in its own lines only, and is
// forgotten when the run leaves the worker; the worker's own secret is
// hidden everywhere.
func TestRedactionPerRun(t *testing.T) {
	var buf strings.Builder
	w := &Worker{ownSecrets: []string{"worker-own-secret"}, store: newStore(0), cfg: Config{Clock: backoff.System}}
	w.red = aci.NewRedactor(w.ownSecrets...)
	log := slog.New(redactHandler{next: slog.NewTextHandler(&buf, nil), d: w.red, forRun: w.redactorFor})
	w.setRunRedactor("a", "1", "run-a-secret-value")
	w.setRunRedactor("b", "run-b-secret-value")
	for _, tc := range []struct{ id, in, want string }{
		{"a", "exit 1 after run-a-secret-value and worker-own-secret", "exit 1 after *** and ***"},
		{"b", "1 run-a-secret-value run-b-secret-value", "1 run-a-secret-value ***"},
		{"other", "run-a-secret-value worker-own-secret", "run-a-secret-value ***"},
	} {
		if got := w.redactorFor(tc.id).String(tc.in); got != tc.want {
			t.Errorf("run %s: %q redacted to %q, want %q", tc.id, tc.in, got, tc.want)
		}
	}
	log.Info("failed: run-a-secret-value", "flow_run_id", "a", "err", errors.New("got run-a-secret-value"))
	log.Info("unrelated: run-a-secret-value 1")
	if got := buf.String(); strings.Count(got, "run-a-secret-value") != 1 || !strings.Contains(got, "unrelated: run-a-secret-value 1") {
		t.Errorf("worker log:\n%s\nwant run a's secret hidden in its own line only", got)
	}
	w.runDone(&run{id: "a"})
	if got := w.redactorFor("a").String("run-a-secret-value"); got != "run-a-secret-value" {
		t.Errorf("after the run left: %q, want its redactor forgotten", got)
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
		out, _, err := renderTemplate(t.Context(), tmpl, nil, r)
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

// Issue 16 item 2: a value from a secret source is sent as a secure value
// whatever its variable's name, and refused where it would be plain text.
func TestSecretProvenanceReachesPrepare(t *testing.T) {
	const val = "from-a-secret-block-1"
	cfg, err := parseJobConfig(jsonObj(t, `{"resource_group_name": "rg", "subscription_id": "sub", "arm_template": {},
		"env": {"DB_URL": "from-a-secret-block-1", "OTHER": "plain-value-12345"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.markSecret([][]string{{"env", "DB_URL"}, {"aci_credentials"}, {"image_registry", "password"}}); err != nil {
		t.Fatal(err)
	}
	cfg.ARMTemplate = nil
	ri := runInfo{FlowRun: &prefect.FlowRun{ID: "0b4c7a52-9d3e-4f1a-8c2b-6e5d4f3a2b1c"}, Flow: &prefect.Flow{ID: "f", Name: "f"}}
	rule, _ := newSecretRule(nil)
	job, err := buildJob(ri, cfg, nil, rule)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range job.Env {
		if want := e.Name == "DB_URL"; e.Secret != want {
			t.Errorf("%s secret = %v, want %v", e.Name, e.Secret, want)
		}
	}
	job.Image, job.Location = "img", "westeurope"
	if job.Template, err = prefectaci.DefaultTemplate(job); err != nil {
		t.Fatal(err)
	}
	p, err := aci.Prepare(job)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(p.Template)
	if strings.Contains(string(body), val) {
		t.Errorf("the template body holds the secret block's value")
	}
	for _, path := range [][]string{{"command"}, {"image_registry", "username"}, {"arm_template", "resources", "0"}} {
		c, _ := parseJobConfig(jsonObj(t, `{"resource_group_name": "rg", "subscription_id": "sub", "arm_template": {}}`))
		err := c.markSecret([][]string{path})
		if err == nil || !strings.Contains(err.Error(), strings.Join(path, ".")) {
			t.Errorf("a secret value at %v: error %v, want a refusal naming the field", path, err)
		}
	}
	// Where the whole env came from a secret source, all of it is secret.
	c, _ := parseJobConfig(jsonObj(t, `{"resource_group_name": "rg", "subscription_id": "sub", "arm_template": {}, "env": {"A": "x", "B": "y"}}`))
	if err := c.markSecret([][]string{{"env"}}); err != nil || !c.secretEnv["A"] || !c.secretEnv["B"] {
		t.Errorf("whole env from a secret source: err %v, secret %v", err, c.secretEnv)
	}
}

// Issue 16 item 2: a block's secrecy comes from its type (Secret,
// credentials blocks) and its schema (secret_fields, format: password).
func TestTemplateBlockSecrecy(t *testing.T) {
	for _, tc := range []struct {
		slug   string
		fields map[string]any
		secret bool
		want   []string
	}{
		{"secret", nil, true, nil},
		{"aws-credentials", nil, true, nil},
		{"json", map[string]any{"secret_fields": []any{}}, false, nil},
		{"webhook", map[string]any{"secret_fields": []any{"url", "headers.*"}}, false, []string{"headers.*", "url"}},
		{"custom", map[string]any{"properties": map[string]any{"pw": map[string]any{"type": "string", "format": "password"}, "host": map[string]any{"type": "string"}}}, false, []string{"pw"}},
	} {
		doc := &prefect.BlockDocument{Data: map[string]any{}, BlockType: &prefect.BlockType{Slug: tc.slug}}
		if tc.fields != nil {
			doc.BlockSchema = &prefect.BlockSchema{Fields: tc.fields}
		}
		got := templateBlock(doc)
		if got.Secret != tc.secret || !reflect.DeepEqual(got.SecretFields, tc.want) {
			t.Errorf("%s: secret %v fields %v, want %v %v", tc.slug, got.Secret, got.SecretFields, tc.secret, tc.want)
		}
	}
}

// Issue 16 item 3: with the stock template, a job variable env is inserted
// by {{ env }} and its own {{ $AZURE_CLIENT_SECRET }} is left unfilled; it
// is refused all the same, as is the credential's value filled in where the
// deployment was made.
func TestWithheldPlaceholdersAndValuesInJobVariables(t *testing.T) {
	const azureSecret = "azure-secret-value"
	env := map[string]string{"AZURE_CLIENT_SECRET": azureSecret, "HOME": "/home/w"}
	tmpl, err := DefaultBaseJobTemplate()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		values map[string]any
		refuse string
	}{
		{"placeholder inserted by {{ env }}", map[string]any{"env": map[string]any{"LEAK": "{{ $AZURE_CLIENT_SECRET }}"}}, "AZURE_CLIENT_SECRET"},
		{"absent azure credential", map[string]any{"command": "echo {{ $AZURE_CLIENT_CERTIFICATE_PASSWORD }}"}, "AZURE_CLIENT_CERTIFICATE_PASSWORD"},
		{"value filled at deploy time", map[string]any{"env": map[string]any{"LEAK": "x" + azureSecret}}, "AZURE_CLIENT_SECRET"},
		{"plain variable", map[string]any{"env": map[string]any{"H": "{{ $HOME }}"}}, ""},
	} {
		r := &resolver{env: env, secrets: workerSecrets(env), azure: map[string]string{"AZURE_CLIENT_SECRET": azureSecret}}
		tc.values["resource_group_name"], tc.values["subscription_id"] = "rg", "sub"
		if _, _, err := renderTemplate(t.Context(), tmpl, tc.values, r); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		r.checkPlaceholders(tc.values)
		r.checkValues(tc.values)
		err := r.refusal()
		switch {
		case tc.refuse == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.refuse != "" && (err == nil || !strings.Contains(err.Error(), tc.refuse)):
			t.Errorf("%s: error %v, want a refusal naming %s", tc.name, err, tc.refuse)
		case err != nil && strings.Contains(err.Error(), azureSecret):
			t.Errorf("%s: the refusal echoes the secret: %v", tc.name, err)
		}
	}
}
