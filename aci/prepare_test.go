package aci_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/emulator/armtemplate"
	"github.com/aciworker/aciworker/prefectaci"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const (
	testSub      = "00000000-0000-0000-0000-000000000001"
	testIdentity = "/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	testSubnet   = "/subscriptions/" + testSub + "/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
	secretKey    = "pnu_secret-api-key-0123456789"
	secretAuth   = "admin:auth-string-secret"
	secretHdr    = `{"Authorization":"Bearer header-secret"}`
	secretTok    = "user-token-secret-value"
	secretPass   = "registry-password-secret"
)

func decodeJSON(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m
}

func fullJob() aci.Job {
	return aci.Job{
		GroupName:  "my-flow-0f1e2d3c",
		Image:      "myregistry.azurecr.io/flows:1.2",
		Entrypoint: aci.DefaultEntrypoint,
		Command:    []string{"prefect", "flow-run", "execute", "[not-an-expression]"},
		CPU:        2,
		MemoryGB:   3.5,
		GPUCount:   1,
		GPUSKU:     "V100",
		Env: []aci.EnvVar{
			{Name: "PREFECT_API_URL", Value: "http://prefect:4200/api"},
			{Name: "PREFECT_API_KEY", Value: secretKey, Secret: true},
			{Name: "PREFECT_API_AUTH_STRING", Value: secretAuth, Secret: true},
			{Name: "PREFECT_CLIENT_CUSTOM_HEADERS", Value: secretHdr, Secret: true},
			{Name: "USER_TOKEN", Value: secretTok, Secret: true},
			{Name: "LIST", Value: `["a","b"]`},
			{Name: "PREFECT_API_URL", Value: "http://prefect:4200/api/v2"},
		},
		Identities: []string{testIdentity},
		Registry:   &aci.Registry{Server: "myregistry.azurecr.io", Username: "bob", Password: secretPass},
		SubnetIDs:  []string{testSubnet},
		DNSServers: []string{"10.0.0.10"},
		Location:   "westeurope",
		Tags:       map[string]string{"prefect.io-flow-run-id": "0f1e2d3c", "note": "[brackets]"},
	}
}

// customTemplate is a user template with its own parameter named like the
// first secret parameter aciworker would pick, and a second container.
const customTemplate = `{
  "$schema": "https://schema.management.azure.com/schemas/2019-08-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "container_group_name": {"type": "string"},
    "AciWorkerSecret0": {"type": "string", "defaultValue": "users-own"},
    "aciworkerSecret1": {"type": "secureString", "defaultValue": "users-own-secure"}
  },
  "variables": {"sidecarImage": "busybox:1.36"},
  "resources": [{
    "type": "Microsoft.ContainerInstance/containerGroups",
    "apiVersion": "2023-05-01",
    "name": "[parameters('container_group_name')]",
    "location": "[resourceGroup().location]",
    "tags": {"team": "data", "owner": "[parameters('AciWorkerSecret0')]"},
    "properties": {
      "containers": [
        {"name": "job", "properties": {
          "image": "will-be-replaced",
          "command": ["python", "-m", "job"],
          "resources": {"requests": {"cpu": 1.5, "memoryInGB": 2}}
        }},
        {"name": "sidecar", "properties": {
          "image": "[variables('sidecarImage')]",
          "resources": {"requests": {"cpu": 0.5, "memoryInGB": 0.5}}
        }}
      ],
      "osType": "Linux",
      "restartPolicy": "Never"
    }
  }]
}`

// userEnvTemplate places environment variables itself, one of them secure
// through its own parameter.
const userEnvTemplate = `{
  "$schema": "https://schema.management.azure.com/schemas/2019-08-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "container_group_name": {"type": "string"},
    "container_name": {"type": "string", "defaultValue": "worker"},
    "location": {"type": "string", "defaultValue": "[resourceGroup().location]"},
    "dbPassword": {"type": "secureString", "defaultValue": "db-pass"}
  },
  "resources": [{
    "type": "Microsoft.ContainerInstance/containerGroups",
    "apiVersion": "2022-09-01",
    "name": "[parameters('container_group_name')]",
    "location": "[parameters('location')]",
    "properties": {
      "containers": [{"name": "[parameters('container_name')]", "properties": {
        "image": "prefecthq/prefect:3-latest",
        "resources": {"requests": {"cpu": 1.0, "memoryInGB": 1.0}},
        "environmentVariables": [
          {"name": "TEAM", "value": "data"},
          {"name": "DB_PASSWORD", "secureValue": "[parameters('dbPassword')]"},
          {"name": "PREFECT_API_URL", "value": "overridden"}
        ]
      }}],
      "osType": "Linux",
      "restartPolicy": "Never"
    }
  }]
}`

func TestPrepareGolden(t *testing.T) {
	t.Parallel()
	mi := fullJob()
	mi.GroupName = "mi-run"
	mi.Registry = &aci.Registry{Server: "myregistry.azurecr.io", Identity: strings.Replace(testIdentity, "id1", "acrpull", 1)}
	mi.GPUCount, mi.Command, mi.Tags = 0, nil, nil

	custom := fullJob()
	custom.Template = decodeJSON(t, customTemplate)
	custom.Location = ""

	userEnv := aci.Job{
		GroupName: "user-env",
		Command:   []string{"prefect", "flow-run", "execute"},
		Env: []aci.EnvVar{
			{Name: "PREFECT_API_URL", Value: "http://prefect/api"},
			{Name: "PREFECT_API_KEY", Value: secretKey, Secret: true},
		},
		Registry: &aci.Registry{Server: "index.docker.io", Username: "bob", Password: secretPass},
		Template: decodeJSON(t, userEnvTemplate),
	}
	minimal := aci.Job{GroupName: "aciworker-run-0a1b2c3d", DeploymentName: "aciworker-run-0a1b2c3d", Image: aci.DefaultImage, Entrypoint: aci.DefaultEntrypoint, Command: []string{"echo", "hello"}}

	// The stock cases deploy Prefect's default template, rendered from the
	// job as the worker and `aciworker run` do.
	stock := func(j aci.Job) aci.Job {
		var err error
		if j.Template, err = prefectaci.DefaultTemplate(j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	tests := []struct {
		name string
		job  aci.Job
	}{
		{"stock", stock(fullJob())},
		{"stock-minimal", stock(minimal)},
		{"stock-managed-identity", stock(mi)},
		{"custom-colliding-parameter", custom},
		{"custom-user-environment", userEnv},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var before []byte
			if tc.job.Template != nil {
				before, _ = json.Marshal(tc.job.Template)
			}
			p, err := aci.Prepare(tc.job)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if tc.job.Template != nil {
				if after, _ := json.Marshal(tc.job.Template); !bytes.Equal(before, after) {
					t.Error("Prepare modified the caller's template")
				}
			}
			got, err := json.MarshalIndent(map[string]any{
				"deploymentName": p.DeploymentName,
				"groupName":      p.GroupName,
				"containerName":  p.ContainerName,
				"template":       p.Template,
				"parameters":     p.Parameters,
				"secrets":        p.Secrets,
			}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Prepare output differs from %s (run with -update after checking):\n%s", path, got)
			}
			checkPrepared(t, tc.job, p)
		})
	}
}

var paramRefRE = regexp.MustCompile(`(?i)parameters\('([^']*)'\)`)

// checkPrepared checks what must hold for every prepared deployment: no
// secret in the template body, every parameter reference declared, every
// supplied parameter declared, secrets only in secureString parameters,
// and ARM accepts the deployment and hands each secret to the container.
func checkPrepared(t *testing.T, job aci.Job, p *aci.Prepared) {
	t.Helper()
	body, err := json.Marshal(p.Template)
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, e := range job.Env {
		if e.Secret {
			secrets = append(secrets, e.Value)
		}
	}
	if job.Registry != nil && job.Registry.Password != "" {
		secrets = append(secrets, job.Registry.Password)
	}
	for _, s := range secrets {
		enc, _ := json.Marshal(s)
		if bytes.Contains(body, enc[1:len(enc)-1]) {
			t.Errorf("template body contains secret %q", s)
		}
		found := false
		for _, ps := range p.Secrets {
			found = found || ps == s
		}
		if !found {
			t.Errorf("Secrets lacks %q", s)
		}
	}
	declared := p.Template["parameters"].(map[string]any)
	lookup := func(name string) (map[string]any, bool) {
		for k, v := range declared {
			if strings.EqualFold(k, name) {
				m, _ := v.(map[string]any)
				return m, true
			}
		}
		return nil, false
	}
	for _, m := range paramRefRE.FindAllStringSubmatch(string(body), -1) {
		if _, ok := lookup(m[1]); !ok {
			t.Errorf("template references undeclared parameter %q", m[1])
		}
	}
	for name, v := range p.Parameters {
		decl, ok := lookup(name)
		if !ok {
			t.Errorf("deployment parameter %q is not declared", name)
			continue
		}
		val, _ := v.(map[string]any)["value"].(string)
		for _, s := range secrets {
			if val == s && !strings.EqualFold(decl["type"].(string), "secureString") {
				t.Errorf("secret parameter %q has type %v", name, decl["type"])
			}
		}
	}
	res, err := armtemplate.Evaluate(p.Template, p.Parameters, armtemplate.Scope{
		SubscriptionID: testSub, TenantID: "tenant", ResourceGroup: "rg", Location: "eastus", DeploymentName: p.DeploymentName,
	})
	if err != nil {
		t.Fatalf("ARM rejects the prepared deployment: %v", err)
	}
	g := res.Resources[0].Body
	if name := res.Resources[0].Name; name != job.GroupName {
		t.Errorf("evaluated group name %q, want %q", name, job.GroupName)
	}
	c := g["properties"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	if p.ContainerName != "" && c["name"] != p.ContainerName {
		t.Errorf("evaluated container name %v, aci.Prepared says %q", c["name"], p.ContainerName)
	}
	envs := map[string]map[string]any{}
	for _, e := range c["properties"].(map[string]any)["environmentVariables"].([]any) {
		m := e.(map[string]any)
		envs[m["name"].(string)] = m
	}
	for _, e := range job.Env {
		m, ok := envs[e.Name]
		if !ok {
			t.Errorf("env %s missing from the evaluated container", e.Name)
			continue
		}
		if e.Secret {
			if m["secureValue"] != lastEnv(job.Env, e.Name) || m["value"] != nil {
				t.Errorf("env %s evaluates to %v, want secureValue %q", e.Name, m, lastEnv(job.Env, e.Name))
			}
		} else if m["value"] != lastEnv(job.Env, e.Name) {
			t.Errorf("env %s evaluates to %v, want value %q", e.Name, m["value"], lastEnv(job.Env, e.Name))
		}
	}
	if job.Registry != nil {
		cred := g["properties"].(map[string]any)["imageRegistryCredentials"].([]any)[0].(map[string]any)
		if job.Registry.Password != "" && cred["password"] != job.Registry.Password {
			t.Errorf("registry password evaluates to %v", cred["password"])
		}
	}
	if len(job.Command) > 0 {
		cmd := c["properties"].(map[string]any)["command"].([]any)
		want := job.Command
		if job.Entrypoint != "" {
			want = append([]string{job.Entrypoint}, want...)
		}
		if len(cmd) != len(want) {
			t.Fatalf("command %v, want %v", cmd, want)
		}
		for i := range want {
			if cmd[i] != want[i] {
				t.Errorf("command[%d] = %v, want %q", i, cmd[i], want[i])
			}
		}
	}
}

func lastEnv(env []aci.EnvVar, name string) string {
	v := ""
	for _, e := range env {
		if e.Name == name {
			v = e.Value
		}
	}
	return v
}

func TestPrepareErrors(t *testing.T) {
	t.Parallel()
	base := func() aci.Job { return aci.Job{GroupName: "ok", Image: "img", Command: []string{"true"}} }
	withTemplate := func(mod func(m map[string]any)) aci.Job {
		j := base()
		j.Template = decodeJSON(t, customTemplate)
		mod(j.Template)
		return j
	}
	tests := []struct {
		name string
		job  aci.Job
		want string // substring of the error
	}{
		{"empty group name", aci.Job{}, "container group name is empty"},
		{"no template", base(), "job Template is empty"},
		{"upper-case group name", aci.Job{GroupName: "My-Flow"}, `"My-Flow"`},
		{"double hyphen", aci.Job{GroupName: "a--b"}, `"a--b" must not contain '--'`},
		{"leading hyphen", aci.Job{GroupName: "-a"}, "must not start or end"},
		{"long group name", aci.Job{GroupName: strings.Repeat("a", 64)}, "limit is 63"},
		{"bad deployment name", func() aci.Job { j := base(); j.DeploymentName = "a b"; return j }(), `deployment name "a b"`},
		{"cpu too high", func() aci.Job { j := base(); j.CPU = 64; return j }(), "cpu 64 is out of range"},
		{"negative memory", func() aci.Job { j := base(); j.MemoryGB = -1; return j }(), "memory -1 GB is out of range"},
		{"bad env name", func() aci.Job { j := base(); j.Env = []aci.EnvVar{{Name: "A-B"}}; return j }(), `environment variable name "A-B"`},
		{"env name starting with underscore", func() aci.Job { j := base(); j.Env = []aci.EnvVar{{Name: "_X"}}; return j }(), `"_X"`},
		{"gpu count", func() aci.Job { j := base(); j.GPUCount = 3; j.GPUSKU = "V100"; return j }(), "gpu count 3"},
		{"gpu sku", func() aci.Job { j := base(); j.GPUCount = 1; j.GPUSKU = "A100"; return j }(), `gpu sku "A100"`},
		{"identity", func() aci.Job { j := base(); j.Identities = []string{"id1"}; return j }(), `identity "id1"`},
		{"registry without password", func() aci.Job { j := base(); j.Registry = &aci.Registry{Server: "r.io", Username: "u"}; return j }(), `registry "r.io": password is empty`},
		{"registry with both", func() aci.Job {
			j := base()
			j.Registry = &aci.Registry{Server: "r.io", Username: "u", Password: "p", Identity: testIdentity}
			return j
		}(), "not both"},
		{"subnet", func() aci.Job { j := base(); j.SubnetIDs = []string{"subnet1"}; return j }(), `subnet id "subnet1"`},
		{"dns", func() aci.Job { j := base(); j.DNSServers = []string{"dns.example"}; return j }(), `dns server "dns.example"`},
		{"location", func() aci.Job { j := base(); j.Location = "east/us"; return j }(), `location "east/us"`},
		{"tag name", func() aci.Job { j := base(); j.Tags = map[string]string{"a/b": "x"}; return j }(), `tag name "a/b"`},
		{"not a container group", withTemplate(func(m map[string]any) {
			m["resources"].([]any)[0].(map[string]any)["type"] = "Microsoft.Storage/storageAccounts"
		}), `resources[0].type is "Microsoft.Storage/storageAccounts"`},
		{"no resources", withTemplate(func(m map[string]any) { delete(m, "resources") }), "template resources is missing"},
		{"no group parameter", withTemplate(func(m map[string]any) {
			delete(m["parameters"].(map[string]any), "container_group_name")
		}), `declares no "container_group_name" parameter`},
		{"fixed group name", withTemplate(func(m map[string]any) {
			m["resources"].([]any)[0].(map[string]any)["name"] = "fixed"
		}), `literal "fixed"`},
		{"no containers", withTemplate(func(m map[string]any) {
			m["resources"].([]any)[0].(map[string]any)["properties"].(map[string]any)["containers"] = []any{}
		}), "containers is an array of 0"},
		{"command not a list", func() aci.Job {
			j := withTemplate(func(m map[string]any) {
				m["resources"].([]any)[0].(map[string]any)["properties"].(map[string]any)["containers"].([]any)[0].(map[string]any)["properties"].(map[string]any)["command"] = "python job.py"
			})
			j.Command, j.Entrypoint = nil, "/entry.sh"
			return j
		}(), `command is "python job.py"`},
		{"template cpu out of range", withTemplate(func(m map[string]any) {
			m["resources"].([]any)[0].(map[string]any)["properties"].(map[string]any)["containers"].([]any)[0].(map[string]any)["properties"].(map[string]any)["resources"] = map[string]any{"requests": map[string]any{"cpu": json.Number("100"), "memoryInGB": json.Number("1")}}
		}), "cpu 100 is out of range"},
		{"secret literal in template", func() aci.Job {
			j := withTemplate(func(m map[string]any) { m["variables"] = map[string]any{"leak": secretTok} })
			j.Env = []aci.EnvVar{{Name: "TOKEN", Value: secretTok, Secret: true}}
			return j
		}(), "contains the value of a secret (23 characters)"},
		{"withheld secret in plain env", func() aci.Job {
			j := withTemplate(func(map[string]any) {})
			j.Env = []aci.EnvVar{{Name: "LEAK", Value: "x" + secretTok}}
			j.Withheld = []string{secretTok}
			return j
		}(), "contains the value of a secret (23 characters)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := aci.Prepare(tc.job)
			if err == nil {
				t.Fatalf("Prepare succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secretTok) {
				t.Errorf("error %q contains a secret", err)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain": "plain", "[x]": "[[x]", "[]": "[[]", "[": "[", "]": "]", "[a": "[a", "a]": "a]", "[[x]": "[[[x]", "": "",
	} {
		if got := aci.Escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzPrepare(f *testing.F) {
	f.Add("grp", "img:1", "A", "v", "echo", 1.0, 1.0, 0, "", "", customTemplate)
	f.Add("my-flow-1", "[x]", "PREFECT_API_KEY", "[parameters('x')]", "[y]", 0.5, 2.0, 1, "V100", "pw", userEnvTemplate)
	f.Add("a", "", "_", "", "", -1.0, 1e9, 3, "K80", "", `{"resources":[{"type":"Microsoft.ContainerInstance/containerGroups"}]}`)
	f.Add("b", "i", "X", "y", "z", 1.0, 1.0, 0, "", "", `[]`)
	f.Fuzz(func(t *testing.T, group, image, envName, envValue, arg string, cpu, mem float64, gpus int, sku, password, tmplJSON string) {
		job := aci.Job{
			GroupName: group, Image: image, Command: []string{arg}, CPU: cpu, MemoryGB: mem,
			GPUCount: gpus, GPUSKU: sku, Entrypoint: arg,
			Env: []aci.EnvVar{{Name: envName, Value: envValue, Secret: true}},
		}
		if password != "" {
			job.Registry = &aci.Registry{Server: "r.io", Username: "u", Password: password}
		}
		dec := json.NewDecoder(strings.NewReader(tmplJSON))
		dec.UseNumber()
		var tmpl map[string]any
		if dec.Decode(&tmpl) != nil || tmpl == nil {
			return
		}
		job.Template = tmpl
		p, err := aci.Prepare(job)
		if err != nil {
			return
		}
		body, err := json.Marshal(p.Template)
		if err != nil {
			t.Fatalf("prepared template does not encode: %v", err)
		}
		for _, s := range []string{envValue, password} {
			if len(s) < aci.MinSecretLength {
				continue
			}
			enc, _ := json.Marshal(s)
			if bytes.Contains(body, enc[1:len(enc)-1]) {
				t.Fatalf("secret %q in the template body", s)
			}
		}
	})
}
