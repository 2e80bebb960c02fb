package jobtemplate

import (
	"context"
	"testing"
)

func FuzzApplyValues(f *testing.F) {
	f.Add(`{"v":"{{ a }}","w":["x-{{ b.c[0] }}","{{ $HOME }}"]}`, `{"a":1.0,"b":{"c":[true]}}`)
	f.Add(`{"job_configuration":{"env":"{{ env }}","x":"{{ prefect.variables.v }}"},"variables":{"properties":{"env":{"default":{"A":"1"}}}}}`, `{"env.B":"2"}`)
	f.Add(`"{{ a }}{{ a }}"`, `{"a":{"k":[1,"two",null]}}`)
	f.Fuzz(func(t *testing.T, tmplJSON, valuesJSON string) {
		var tmpl any
		var values map[string]any
		if decodeNumbers([]byte(tmplJSON), &tmpl) != nil || decodeNumbers([]byte(valuesJSON), &values) != nil {
			return
		}
		lookup := func(string) (string, bool) { return "", false }
		_ = applyValues(tmpl, values, lookup)
		if m, ok := tmpl.(map[string]any); ok {
			r := &caseResolver{Variables: map[string]any{"v": "x"}}
			_, _ = Render(context.Background(), m, values, Options{Resolver: r, LookupEnv: lookup})
		}
	})
}
