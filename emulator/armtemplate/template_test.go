package armtemplate

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const cgType = "Microsoft.ContainerInstance/containerGroups"

func TestTemplateValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		template string
		params   string
		code     string
		want     string
		path     string
	}{
		{"unknown member", `{"contentVersion":"1.0.0.0","resources":[],"type":"x"}`, `{}`,
			"InvalidRequestContent", "Could not find member 'type' on object of type 'Template'. Path 'properties.template.type'.", ""},
		{"missing contentVersion", `{"resources":[]}`, `{}`,
			"InvalidRequestContent", "Required property 'contentVersion' not found in JSON. Path 'properties.template'.", ""},
		{"missing resources", `{"contentVersion":"1.0.0.0"}`, `{}`,
			"InvalidRequestContent", "Required property 'resources' not found in JSON.", ""},
		{"resources not an array", `{"contentVersion":"1.0.0.0","resources":{}}`, `{}`,
			"InvalidRequestContent", "The template member 'resources' must be an array, not a value of type 'Object'.", ""},
		{"unknown parameter member", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"string","defaultValu":"x"}},"resources":[]}`, `{}`,
			"InvalidRequestContent", "Could not find member 'defaultValu' on object of type 'TemplateInputParameter'. Path 'properties.template.parameters.p.defaultValu'.", ""},
		{"parameter type missing", `{"contentVersion":"1.0.0.0","parameters":{"p":{}},"resources":[]}`, `{}`,
			"InvalidTemplate", "The template parameter 'p' must declare a 'type'", "properties.template.parameters.p"},
		{"parameter type unknown", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"float"}},"resources":[]}`, `{}`,
			"InvalidTemplate", "The template parameter 'p' has the type 'float', which is not valid", "properties.template.parameters.p.type"},
		{"parameter not provided", `{"contentVersion":"1.0.0.0","parameters":{"labId":{"type":"string"}},"resources":[]}`, `{}`,
			"InvalidTemplate", "Deployment template validation failed: 'The value for the template parameter 'labId' is not provided. Please see https://aka.ms/resource-manager-parameter-files for usage details.'.", "properties.template.parameters.labId"},
		{"null value is not provided", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"string"}},"resources":[]}`, `{"p":{"value":null}}`,
			"InvalidTemplate", "The value for the template parameter 'p' is not provided.", ""},
		{"undeclared parameters", `{"contentVersion":"1.0.0.0","parameters":{"a":{"type":"string","defaultValue":""}},"resources":[]}`, `{"z":{"value":1},"y":{"value":2}}`,
			"InvalidTemplate", "The template parameters 'y, z' are not valid; they are not present in the original template and can therefore not be provided at deployment time. The only supported parameters for this template are 'a'.", "properties.parameters"},
		{"string given int", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"string"}},"resources":[]}`, `{"p":{"value":5}}`,
			"InvalidTemplate", "Template parameter JToken type is not valid. Expected 'String, Uri'. Actual 'Integer'.", "properties.parameters.p"},
		{"int given float spelling", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"int"}},"resources":[]}`, `{"p":{"value":1.0}}`,
			"InvalidTemplate", "Expected 'Integer'. Actual 'Float'.", ""},
		{"int given string", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"Int"}},"resources":[]}`, `{"p":{"value":"1"}}`,
			"InvalidTemplate", "Expected 'Integer'. Actual 'String'.", ""},
		{"bool given string", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"bool"}},"resources":[]}`, `{"p":{"value":"true"}}`,
			"InvalidTemplate", "Expected 'Boolean'. Actual 'String'.", ""},
		{"object given array", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"secureObject"}},"resources":[]}`, `{"p":{"value":[]}}`,
			"InvalidTemplate", "Expected 'Object'. Actual 'Array'.", ""},
		{"default has wrong type", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"array","defaultValue":"[concat('a')]"}},"resources":[]}`, `{}`,
			"InvalidTemplate", "Expected 'Array'. Actual 'String'.", "properties.template.parameters.p"},
		{"default uses variables", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"string","defaultValue":"[variables('v')]"}},"variables":{"v":"x"},"resources":[]}`, `{}`,
			"InvalidTemplate", "The template function 'variables' is not expected at this location.", "properties.template.parameters.p.defaultValue"},
		{"default cycle", `{"contentVersion":"1.0.0.0","parameters":{"a":{"type":"string","defaultValue":"[parameters('b')]"},"b":{"type":"string","defaultValue":"[parameters('A')]"}},"resources":[]}`, `{}`,
			"InvalidTemplate", "circular reference", ""},
		{"not allowed", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"string","allowedValues":["a","b"]}},"resources":[]}`, `{"p":{"value":"c"}}`,
			"InvalidTemplate", "The provided value 'c' for the template parameter 'p' is not valid. The parameter value is not part of the allowed values: 'a,b'.", ""},
		{"array element not allowed", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"array","allowedValues":["a","b"]}},"resources":[]}`, `{"p":{"value":["a","c"]}}`,
			"InvalidTemplate", "is not part of the allowed values", ""},
		{"secure value not echoed", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"securestring","allowedValues":["a"]}},"resources":[]}`, `{"p":{"value":"hunter2"}}`,
			"InvalidTemplate", "The provided value for the template parameter 'p' is not valid.", ""},
		{"too short", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"string","minLength":3}},"resources":[]}`, `{"p":{"value":"ab"}}`,
			"InvalidTemplate", "Length of the value should be greater than or equal to '3'.", ""},
		{"too long", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"array","maxLength":1}},"resources":[]}`, `{"p":{"value":[1,2]}}`,
			"InvalidTemplate", "Length of the value should be less than or equal to '1'.", ""},
		{"too small", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"int","minValue":1}},"resources":[]}`, `{"p":{"value":0}}`,
			"InvalidTemplate", "The value should be greater than or equal to '1'.", ""},
		{"too big", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"int","maxValue":4}},"resources":[]}`, `{"p":{"value":5}}`,
			"InvalidTemplate", "The value should be less than or equal to '4'.", ""},
		{"key vault reference", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"securestring"}},"resources":[]}`, `{"p":{"reference":{"keyVault":{"id":"x"},"secretName":"s"}}}`,
			"InvalidTemplate", "uses a Key Vault 'reference', which this emulator does not support", ""},
		{"parameter entry not an object", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"string"}},"resources":[]}`, `{"p":"x"}`,
			"InvalidRequestContent", "The deployment parameter 'p' must be an object such as {\"value\": ...}", ""},
		{"variable cycle", `{"contentVersion":"1.0.0.0","variables":{"a":"[variables('b')]","b":"[concat(variables('c'))]","c":"[variables('a')]"},"resources":[]}`, `{}`,
			"InvalidTemplate", "The template variable 'a' is not valid: it has a circular reference 'a -> b -> c -> a'", ""},
		{"variable error", `{"contentVersion":"1.0.0.0","variables":{"v":{"x":["[bad()]"]}},"resources":[]}`, `{}`,
			"InvalidTemplate", "The template variable 'v' is not valid: The template function 'bad' is not valid.", "properties.template.variables.v.x[0]"},
		{"variable copy", `{"contentVersion":"1.0.0.0","variables":{"copy":[]},"resources":[]}`, `{}`,
			"InvalidTemplate", "The template variables use 'copy', which this emulator does not support", ""},
		{"resource type missing", `{"contentVersion":"1.0.0.0","resources":[{"apiVersion":"1","name":"n"}]}`, `{}`,
			"InvalidTemplate", "The template resource at 'resources[0]' is missing the required property 'type'", ""},
		{"resource apiVersion missing", `{"contentVersion":"1.0.0.0","resources":[{"type":"` + cgType + `","name":"n"}]}`, `{}`,
			"InvalidTemplate", "is missing the required property 'apiVersion'", ""},
		{"resource name missing", `{"contentVersion":"1.0.0.0","resources":[{"type":"` + cgType + `","apiVersion":"1"}]}`, `{}`,
			"InvalidTemplate", "is missing the required property 'name'", ""},
		{"resource type expression", `{"contentVersion":"1.0.0.0","resources":[{"type":"[concat('Microsoft.ContainerInstance/containerGroups')]","apiVersion":"1","name":"n"}]}`, `{}`,
			"InvalidTemplate", "the resource 'type' must be a literal value, not a template language expression", "properties.template.resources[0].type"},
		{"resource apiVersion expression", `{"contentVersion":"1.0.0.0","resources":[{"type":"` + cgType + `","apiVersion":"[parameters('v')]","name":"n"}]}`, `{}`,
			"InvalidTemplate", "the resource 'apiVersion' must be a literal value", ""},
		{"too many name segments", `{"contentVersion":"1.0.0.0","resources":[{"type":"` + cgType + `","apiVersion":"1","name":"a/b"}]}`, `{}`,
			"InvalidTemplate", "The template resource 'a/b' for type 'Microsoft.ContainerInstance/containerGroups' has incorrect segment lengths.", "properties.template.resources[0].name"},
		{"too few name segments", `{"contentVersion":"1.0.0.0","resources":[{"type":"Microsoft.Network/virtualNetworks/subnets","apiVersion":"1","name":"a"}]}`, `{}`,
			"InvalidTemplate", "has incorrect segment lengths", ""},
		{"name not a string", `{"contentVersion":"1.0.0.0","resources":[{"type":"` + cgType + `","apiVersion":"1","name":"[createArray()]"}]}`, `{}`,
			"InvalidTemplate", "its 'name' must evaluate to a non-empty string, not a value of type 'Array'", ""},
		{"copy unsupported", `{"contentVersion":"1.0.0.0","resources":[{"type":"` + cgType + `","apiVersion":"1","name":"n","copy":{"name":"c","count":2}}]}`, `{}`,
			"InvalidTemplate", "uses 'copy' (resource iteration), which this emulator does not support", ""},
		{"nested resources unsupported", `{"contentVersion":"1.0.0.0","resources":[{"type":"` + cgType + `","apiVersion":"1","name":"n","resources":[]}]}`, `{}`,
			"InvalidTemplate", "declares nested child 'resources', which this emulator does not support", ""},
		{"condition not bool", `{"contentVersion":"1.0.0.0","resources":[{"type":"` + cgType + `","apiVersion":"1","name":"n","condition":"yes"}]}`, `{}`,
			"InvalidTemplate", "its 'condition' must be a boolean, not a value of type 'String'", ""},
		{"syntax checked in skipped resource", `{"contentVersion":"1.0.0.0","resources":[{"type":"` + cgType + `","apiVersion":"1","name":"n","condition":false,"properties":{"x":"[concat(]"}}]}`, `{}`,
			"InvalidTemplate", "Unable to parse language expression", "properties.template.resources[0].properties.x"},
		{"duplicate resource", `{"contentVersion":"1.0.0.0","resources":[{"type":"` + cgType + `","apiVersion":"1","name":"n"},{"type":"microsoft.containerinstance/containergroups","apiVersion":"2","name":"N"}]}`, `{}`,
			"InvalidTemplate", "The resource '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/my-RG/providers/microsoft.containerinstance/containergroups/N' is defined multiple times in a template.", ""},
		{"dependsOn not an array", `{"contentVersion":"1.0.0.0","resources":[{"type":"` + cgType + `","apiVersion":"1","name":"n","dependsOn":"x"}]}`, `{}`,
			"InvalidTemplate", "'dependsOn' must be an array", ""},
		{"location not a string", `{"contentVersion":"1.0.0.0","resources":[{"type":"` + cgType + `","apiVersion":"1","name":"n","location":1}]}`, `{}`,
			"InvalidTemplate", "'location' must be a string", ""},
		{"secure value redacted from expression errors", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"secureString"}},"resources":[],"outputs":{"o":{"type":"int","value":"[int(parameters('p'))]"}}}`, `{"p":{"value":"hunter2"}}`,
			"InvalidTemplate", "'int' cannot convert the string '***' to an integer", ""},
		{"secure default redacted", `{"contentVersion":"1.0.0.0","parameters":{"p":{"type":"secureObject","defaultValue":{"k":"hunter2"}}},"resources":[],"outputs":{"o":{"type":"int","value":"[int(parameters('p').k)]"}}}`, `{}`,
			"InvalidTemplate", "'int' cannot convert the string '***' to an integer", ""},
		{"output type mismatch", `{"contentVersion":"1.0.0.0","resources":[],"outputs":{"o":{"type":"string","value":"[length('ab')]"}}}`, `{}`,
			"InvalidTemplate", "The template output 'o' is not valid: Template output JToken type is not valid. Expected 'String, Uri'. Actual 'Integer'.", "properties.template.outputs.o.value"},
		{"output without value", `{"contentVersion":"1.0.0.0","resources":[],"outputs":{"o":{"type":"string"}}}`, `{}`,
			"InvalidTemplate", "The template output 'o' is missing the required property 'value'", ""},
		{"output expression error", `{"contentVersion":"1.0.0.0","resources":[],"outputs":{"o":{"type":"object","value":{"a":"[reference('x')]"}}}}`, `{}`,
			"InvalidTemplate", "The template output 'o' is not valid: The template function 'reference' is not supported by this emulator", "properties.template.outputs.o.value.a"},
		{"resource expression error names the resource", `{"contentVersion":"1.0.0.0","resources":[{"type":"` + cgType + `","apiVersion":"1","name":"grp","properties":{"containers":[{"name":"[like('x')]"}]}}]}`, `{}`,
			"InvalidTemplate", "Deployment template validation failed: 'The template resource 'grp' of type 'Microsoft.ContainerInstance/containerGroups' is not valid: The template function 'like' is not valid. Please see https://aka.ms/arm-functions for usage details. Please see https://aka.ms/arm-template-expressions for usage details.'.", "properties.template.resources[0].properties.containers[0].name"},
		{"user function calling a variable", `{"contentVersion":"1.0.0.0","functions":[{"namespace":"n","members":{"f":{"output":{"type":"string","value":"[variables('v')]"}}}}],"variables":{"v":"x"},"resources":[],"outputs":{"o":{"type":"string","value":"[n.f()]"}}}`, `{}`,
			"InvalidTemplate", "The template function 'variables' is not expected at this location.", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Evaluate(decodeJSON(t, tt.template), decodeJSON(t, tt.params), testScope)
			ae := wantErr(t, err, tt.code, tt.want)
			if tt.path != "" && ae.Path() != tt.path {
				t.Errorf("path = %q, want %q", ae.Path(), tt.path)
			}
			if strings.Contains(ae.Message, "hunter2") {
				t.Errorf("secure value leaked into %q", ae.Message)
			}
			if _, err := json.Marshal(ae); err != nil {
				t.Errorf("error does not encode: %v", err)
			}
		})
	}
}

func TestEvaluateSemantics(t *testing.T) {
	t.Parallel()
	tmpl := decodeJSON(t, `{
	  "$SCHEMA": "x", "ContentVersion": "1.0.0.0", "Metadata": {"a": 1}, "apiProfile": "p",
	  "parameters": {
	    "Name": {"type": "String", "allowedValues": ["[x]", "other"]},
	    "Count": {"type": "INT", "defaultValue": 2, "minValue": 1, "maxValue": 3},
	    "cpu": {"type": "object", "defaultValue": {"v": 1.0}},
	    "Enabled": {"type": "bool", "defaultValue": "[equals(parameters('count'), 2)]"},
	    "tags": {"type": "object", "defaultValue": {}}
	  },
	  "variables": {"full": "[concat(parameters('NAME'), '-', string(parameters('count')))]", "unused": "[resourceGroup().location]"},
	  "resources": [
	    {"type": "Microsoft.ContainerInstance/containerGroups", "apiVersion": "2023-05-01", "name": "[variables('FULL')]",
	     "location": "[resourceGroup().location]", "condition": "[parameters('enabled')]",
	     "dependsOn": ["[resourceId('Microsoft.Network/virtualNetworks', 'vn')]"],
	     "tags": "[union(parameters('tags'), createObject('run', 'r1'))]",
	     "identity": "[if(empty(parameters('tags')), null(), parameters('tags'))]",
	     "properties": {"cpu": "[parameters('cpu').v]", "literal": "[[not evaluated]", "keep": null, "[concat('key')]": 1}},
	    {"condition": false, "type": "Microsoft.ContainerInstance/containerGroups", "apiVersion": "2023-05-01", "name": "[parameters('missing')]"},
	    {"type": "Microsoft.Network/virtualNetworks/subnets", "apiVersion": "2023-05-01", "name": "vn/[sn]"}
	  ],
	  "outputs": {
	    "id": {"type": "string", "value": "[resourceId('Microsoft.ContainerInstance/containerGroups', variables('full'))]"},
	    "skipped": {"type": "string", "condition": "[not(parameters('enabled'))]", "value": "[parameters('missing')]"},
	    "count": {"type": "int", "value": "[parameters('count')]"}
	  }
	}`)
	params := decodeJSON(t, `{"name": {"value": "[x]"}}`)
	res, err := Evaluate(tmpl, params, testScope)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	// Supplied values are literal: "[x]" is not evaluated.
	wantParams := map[string]Param{
		"Name":    {Type: "String", Value: "[x]"},
		"Count":   {Type: "INT", Value: json.Number("2")},
		"cpu":     {Type: "object", Value: map[string]any{"v": json.Number("1.0")}},
		"Enabled": {Type: "bool", Value: true},
		"tags":    {Type: "object", Value: map[string]any{}},
	}
	if !reflect.DeepEqual(res.Parameters, wantParams) {
		t.Errorf("parameters = %#v", res.Parameters)
	}
	if len(res.Resources) != 2 {
		t.Fatalf("got %d resources, want 2 (the condition=false one omitted)", len(res.Resources))
	}
	r := res.Resources[0]
	if r.Name != "[x]-2" || r.Location != "eastus" || r.APIVersion != "2023-05-01" {
		t.Errorf("resource = %+v", r)
	}
	want := `{"apiVersion":"2023-05-01","dependsOn":["/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/my-RG/providers/Microsoft.Network/virtualNetworks/vn"],"location":"eastus","name":"[x]-2","properties":{"[concat('key')]":1,"cpu":1.0,"keep":null,"literal":"[not evaluated]"},"tags":{"run":"r1"},"type":"Microsoft.ContainerInstance/containerGroups"}`
	if got := encodeJSON(t, r.Body); got != want {
		t.Errorf("body =\n%s\nwant\n%s", got, want)
	}
	if res.Resources[1].Name != "vn/[sn]" {
		t.Errorf("child resource name = %q", res.Resources[1].Name)
	}
	wantOut := map[string]Param{
		"id":    {Type: "string", Value: "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/my-RG/providers/Microsoft.ContainerInstance/containerGroups/[x]-2"},
		"count": {Type: "int", Value: json.Number("2")},
	}
	if !reflect.DeepEqual(res.Outputs, wantOut) {
		t.Errorf("outputs = %#v", res.Outputs)
	}
}

// Go values that did not come through a UseNumber decoder are accepted.
func TestEvaluateAcceptsGoValues(t *testing.T) {
	t.Parallel()
	tmpl := map[string]any{
		"contentVersion": "1.0.0.0",
		"parameters": map[string]any{
			"n": map[string]any{"type": "int"},
			"f": map[string]any{"type": "object"},
		},
		"resources": []any{map[string]any{
			"type": cgType, "apiVersion": "1", "name": "g",
			"properties": map[string]any{"n": "[add(parameters('n'), 1)]", "f": "[parameters('f')]", "i": 3, "u": uint8(4), "fl": 2.5, "tags": map[string]string{"a": "b"}, "list": []string{"x"}},
		}},
	}
	params := map[string]any{"n": map[string]any{"value": 1.0}, "f": map[string]any{"value": map[string]any{"x": float64(7)}}}
	res, err := Evaluate(tmpl, params, testScope)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	want := `{"f":{"x":7},"fl":2.5,"i":3,"list":["x"],"n":2,"tags":{"a":"b"},"u":4}`
	if got := encodeJSON(t, res.Resources[0].Body["properties"]); got != want {
		t.Fatalf("properties = %s, want %s", got, want)
	}
	if _, err := Evaluate(map[string]any{"contentVersion": "1.0.0.0", "resources": []any{}, "metadata": map[string]any{"c": make(chan int)}}, nil, testScope); err == nil {
		t.Fatal("a non-JSON Go value was accepted")
	}
}

// Results never alias each other or the inputs: a parameter used by two
// resources yields two independent maps.
func TestEvaluateResultsDoNotAlias(t *testing.T) {
	t.Parallel()
	tmpl := decodeJSON(t, `{"contentVersion":"1.0.0.0","parameters":{"tags":{"type":"object"}},"resources":[
	  {"type":"`+cgType+`","apiVersion":"1","name":"a","tags":"[parameters('tags')]"},
	  {"type":"`+cgType+`","apiVersion":"1","name":"b","tags":"[parameters('tags')]"}]}`)
	params := decodeJSON(t, `{"tags":{"value":{"k":"v"}}}`)
	res, err := Evaluate(tmpl, params, testScope)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	res.Resources[0].Body["tags"].(map[string]any)["k"] = "changed"
	if got := res.Resources[1].Body["tags"].(map[string]any)["k"]; got != "v" {
		t.Fatalf("second resource's tags changed to %v", got)
	}
	if got := res.Parameters["tags"].Value.(map[string]any)["k"]; got != "v" {
		t.Fatalf("parameter value changed to %v", got)
	}
	if got := params["tags"].(map[string]any)["value"].(map[string]any)["k"]; got != "v" {
		t.Fatalf("input changed to %v", got)
	}
}

// Hostile templates that would build exponentially large values fail
// with an error instead of exhausting memory.
func TestEvaluationBudget(t *testing.T) {
	t.Parallel()
	vars := map[string]any{"v0": strings.Repeat("x", 64)}
	for i := 1; i <= 40; i++ {
		prev := "[variables('v" + itoa(i-1) + "')]"
		vars["v"+itoa(i)] = map[string]any{"a": prev, "b": prev}
	}
	tmpl := map[string]any{"contentVersion": "1.0.0.0", "variables": vars, "resources": []any{}}
	_, err := Evaluate(tmpl, nil, testScope)
	wantErr(t, err, "InvalidTemplate", "which exceeds the evaluation limit")

	s := "'ab'"
	for range 40 {
		s = "replace(" + s + ", 'a', 'aa')"
	}
	_, err = EvalString("["+s+"]", testScope)
	wantErr(t, err, "InvalidTemplate", "limit")
}

func itoa(i int) string { return json.Number(intNumber(int64(i))).String() }

func TestEvaluateNilTemplate(t *testing.T) {
	t.Parallel()
	_, err := Evaluate(nil, nil, testScope)
	wantErr(t, err, "InvalidRequestContent", "template")
}
