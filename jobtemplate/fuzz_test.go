package jobtemplate

import (
	"context"
	"testing"
)

// FuzzApplyValues feeds arbitrary JSON templates and values through
// ApplyValues, Render (with blocks and variables to resolve) and PyStr: none
// may panic or loop.
func FuzzApplyValues(f *testing.F) {
	f.Add(`{"v":"{{ a }}","w":["x-{{ b.c[0] }}","{{ $HOME }}"]}`, `{"a":1.0,"b":{"c":[true]}}`)
	f.Add(`{"job_configuration":{"env":"{{ env }}","x":"{{ prefect.variables.v }}"},"variables":{"properties":{"env":{"default":{"A":"1"}}}}}`, `{"env.B":"2"}`)
	f.Add(`"{{ a }}{{ a }}"`, `{"a":{"k":[1,"two",null]}}`)
	f.Add(`{"job_configuration":{"x":"{{ x }}","y":{"$ref":{"block_document_id":"b"}}},"variables":{}}`,
		`{"x":"p-{{ prefect.blocks.secret.s.value }}-{{ prefect.blocks.json.j.k[0] }}"}`)
	f.Add(`{"v":"{{ ünï.١ }}","w":"{{\u3000a\u000b}}"}`, `{"ünï":["x","y"],"a":"it's \"q\""}`)
	f.Fuzz(func(t *testing.T, tmplJSON, valuesJSON string) {
		var tmpl any
		var values map[string]any
		if decodeNumbers([]byte(tmplJSON), &tmpl) != nil || decodeNumbers([]byte(valuesJSON), &values) != nil {
			return
		}
		lookup := func(name string) (string, bool) { return "env:" + name, len(name)%2 == 0 }
		_ = applyValues(tmpl, values, lookup)
		_ = PyStr(tmpl)
		if m, ok := tmpl.(map[string]any); ok {
			r := &caseResolver{
				Blocks:       map[string]map[string]any{"b": {"k": "v"}},
				BlocksByName: map[string]map[string]any{"secret/s": {"value": "pw"}, "json/j": {"value": map[string]any{"k": []any{"{{ prefect.variables.v }}"}}}},
				Variables:    map[string]any{"v": "x", "w": tmpl},
			}
			_, _ = Render(context.Background(), m, values, Options{Resolver: r, LookupEnv: lookup})
			_, _ = MergeJobVariablesStrict(m, values)
		}
	})
}
