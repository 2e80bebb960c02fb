package armtemplate

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var testScope = Scope{
	SubscriptionID: "00000000-0000-0000-0000-000000000001",
	TenantID:       "00000000-0000-0000-0000-0000000000aa",
	ResourceGroup:  "my-RG",
	Location:       "eastus",
	DeploymentName: "prefect-flow-1",
}

func decodeJSON(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

func encodeJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return string(b)
}

// prefectTemplate returns the default Prefect ACI ARM template with its
// Prefect placeholders filled in as Prefect's templating would (whole-string
// placeholders take the value's type).
func prefectTemplate(t testing.TB) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "prefectaci", "basejobtemplate.json"))
	if err != nil {
		t.Fatalf("read default base job template: %v", err)
	}
	base := decodeJSON(t, string(raw))
	tmpl := base["job_configuration"].(map[string]any)["arm_template"].(map[string]any)
	values := map[string]any{
		"{{ image }}":   "prefecthq/prefect:3-latest",
		"{{ command }}": []any{"prefect", "flow-run", "execute"},
		"{{ cpu }}":     json.Number("1.0"),
		"{{ memory }}":  json.Number("1.0"),
	}
	var fill func(v any) any
	fill = func(v any) any {
		switch x := v.(type) {
		case string:
			if r, ok := values[x]; ok {
				return r
			}
			if strings.Contains(x, "{{") {
				t.Fatalf("unfilled placeholder %q in the default template", x)
			}
		case []any:
			for i := range x {
				x[i] = fill(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = fill(x[k])
			}
		}
		return v
	}
	return fill(tmpl).(map[string]any)
}

func TestEvaluatePrefectDefaultTemplate(t *testing.T) {
	t.Parallel()
	tmpl := prefectTemplate(t)
	before := encodeJSON(t, tmpl)
	params := map[string]any{"container_group_name": map[string]any{"value": "my-flow-3f0c"}}
	res, err := Evaluate(tmpl, params, testScope)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if after := encodeJSON(t, tmpl); after != before {
		t.Fatal("Evaluate modified its template argument")
	}
	if len(res.Resources) != 1 {
		t.Fatalf("got %d resources, want 1", len(res.Resources))
	}
	r := res.Resources[0]
	hash := UniqueString("/subscriptions/" + testScope.SubscriptionID + "/resourceGroups/" + testScope.ResourceGroup)
	if r.Type != "Microsoft.ContainerInstance/containerGroups" || r.APIVersion != "2022-09-01" || r.Name != "my-flow-3f0c" || r.Location != "eastus" {
		t.Fatalf("resource = %q %q %q %q", r.Type, r.APIVersion, r.Name, r.Location)
	}
	want := `{"apiVersion":"2022-09-01","location":"eastus","name":"my-flow-3f0c","properties":{"containers":[{"name":"` + hash + `","properties":{"command":["prefect","flow-run","execute"],"environmentVariables":[],"image":"prefecthq/prefect:3-latest","resources":{"requests":{"cpu":1.0,"memoryInGB":1.0}}}}],"osType":"Linux","restartPolicy":"Never"},"type":"Microsoft.ContainerInstance/containerGroups"}`
	if got := encodeJSON(t, r.Body); got != want {
		t.Fatalf("body =\n%s\nwant\n%s", got, want)
	}
	wantParams := map[string]Param{
		"container_group_name": {Type: "string", Value: "my-flow-3f0c"},
		"container_name":       {Type: "string", Value: hash},
		"location":             {Type: "string", Value: "eastus"},
	}
	if !reflect.DeepEqual(res.Parameters, wantParams) {
		t.Fatalf("parameters = %#v, want %#v", res.Parameters, wantParams)
	}
}

// The worker always passes container_group_name; a template without it
// must fail the way Azure fails it.
func TestEvaluateUndeclaredParameter(t *testing.T) {
	t.Parallel()
	tmpl := decodeJSON(t, `{"contentVersion":"1.0.0.0","parameters":{"b":{"type":"string"},"a":{"type":"string","defaultValue":"x"}},"resources":[]}`)
	_, err := Evaluate(tmpl, map[string]any{"container_group_name": map[string]any{"value": "g"}, "b": map[string]any{"value": "v"}}, testScope)
	wantErr(t, err, "InvalidTemplate", "The template parameters 'container_group_name' are not valid; they are not present in the original template and can therefore not be provided at deployment time. The only supported parameters for this template are 'a, b'.")
}

func wantErr(t *testing.T, err error, code, substr string) *Error {
	t.Helper()
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want *Error %s containing %q", err, err, code, substr)
	}
	if ae.Code != code || !strings.Contains(ae.Message, substr) {
		t.Fatalf("error = %s: %s\nwant %s containing %q", ae.Code, ae.Message, code, substr)
	}
	return ae
}
