package prefectaci

import (
	"encoding/json"
	"testing"

	"github.com/aciworker/aciworker/aci"
)

func TestShellJoin(t *testing.T) {
	t.Parallel()
	got := shellJoin([]string{"prefect", "flow-run", "execute", "it's", "a b", ""})
	if want := `prefect flow-run execute 'it'"'"'s' 'a b' ''`; got != want {
		t.Errorf("shellJoin = %s, want %s", got, want)
	}
}

func TestIsSecretEnvName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"PREFECT_API_KEY": true, "prefect_api_auth_string": true, "PREFECT_CLIENT_CUSTOM_HEADERS": true,
		"PREFECT_API_URL": false, "API_KEY": false, "": false,
	} {
		if got := IsSecretEnvName(name); got != want {
			t.Errorf("IsSecretEnvName(%q) = %v, want %v", name, got, want)
		}
	}
}

// A template's {{ env }} never receives a secret, marked or named.
func TestTemplateValuesLeaveSecretsOut(t *testing.T) {
	t.Parallel()
	v := TemplateValues(aci.Job{
		Command: []string{"echo", "a b"},
		Env: []aci.EnvVar{
			{Name: "PLAIN", Value: "p"},
			{Name: "MARKED", Value: "m", Secret: true},
			{Name: "PREFECT_API_KEY", Value: "k"},
		},
	})
	env := v["env"].(map[string]any)
	if len(env) != 1 || env["PLAIN"] != "p" {
		t.Errorf("env = %v, want only PLAIN", env)
	}
	if v["cpu"] != json.Number("1.0") || v["memory"] != json.Number("1.0") || v["command"] != "echo 'a b'" {
		t.Errorf("values = %v", v)
	}
}

// The rendered default template deploys as aci prepares it, and rendering
// leaves the template it was given unchanged.
func TestDefaultTemplatePrepares(t *testing.T) {
	t.Parallel()
	job := aci.Job{GroupName: "g1", Image: aci.DefaultImage, Command: []string{"true"}, CPU: 2}
	raw, err := DefaultARMTemplate()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(raw)
	if job.Template, err = RenderTemplate(raw, job); err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(raw); string(after) != string(before) {
		t.Error("RenderTemplate changed its input")
	}
	if _, err := aci.Prepare(job); err != nil {
		t.Fatalf("Prepare(default template) = %v", err)
	}
}
