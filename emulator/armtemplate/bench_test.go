package armtemplate

import (
	"sync"
	"testing"
)

func BenchmarkUniqueString(b *testing.B) {
	id := "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/my-RG"
	for b.Loop() {
		UniqueString(id)
	}
}

func BenchmarkEvaluatePrefectTemplate(b *testing.B) {
	tmpl := prefectTemplate(b)
	params := map[string]any{"container_group_name": map[string]any{"value": "my-flow-3f0c"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Evaluate(tmpl, params, testScope); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseExpression(b *testing.B) {
	s := "[concat(parameters('name'), '-', uniqueString(resourceGroup().id, deployment().name), string(variables('x')[0].y))]"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseExpression(s); err != nil {
			b.Fatal(err)
		}
	}
}

// The emulator evaluates deployments from many requests at once; one
// shared template must evaluate identically from every goroutine.
func TestEvaluateConcurrently(t *testing.T) {
	t.Parallel()
	tmpl := prefectTemplate(t)
	want := encodeJSON(t, mustEvaluate(t, tmpl).Resources)
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for range 16 {
		wg.Go(func() {
			res, err := Evaluate(tmpl, map[string]any{"container_group_name": map[string]any{"value": "g"}}, testScope)
			if err != nil {
				errs <- err.Error()
				return
			}
			if got := encodeJSON(t, res.Resources); got != want {
				errs <- got
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func mustEvaluate(t *testing.T, tmpl map[string]any) *Result {
	t.Helper()
	res, err := Evaluate(tmpl, map[string]any{"container_group_name": map[string]any{"value": "g"}}, testScope)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestParseExpressionRendering(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"[concat( 'a''b' ,1,-2)]", "concat('a''b', 1, -2)"},
		{"[x(). y [ 0 ]['z']]", "x().y[0]['z']"},
		{"[ns.f(g())]", "ns.f(g())"},
		{"plain", "'plain'"},
		{"[[x]", "'[x]'"},
	}
	for _, tt := range tests {
		e, err := ParseExpression(tt.in)
		if err != nil {
			t.Errorf("ParseExpression(%q): %v", tt.in, err)
			continue
		}
		if got := e.String(); got != tt.want {
			t.Errorf("ParseExpression(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}
