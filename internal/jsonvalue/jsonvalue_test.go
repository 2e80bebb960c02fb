package jsonvalue

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestCopyIsDeep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     any
		mutate func(any)
	}{
		{"nested map", map[string]any{"a": map[string]any{"b": "c"}}, func(v any) { v.(map[string]any)["a"].(map[string]any)["b"] = "x" }},
		{"list in map", map[string]any{"a": []any{"b", json.Number("1")}}, func(v any) { v.(map[string]any)["a"].([]any)[0] = "x" }},
		{"map in list", []any{map[string]any{"k": true}}, func(v any) { v.([]any)[0].(map[string]any)["k"] = false }},
		{"new key", map[string]any{}, func(v any) { v.(map[string]any)["new"] = 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Copy(tc.in)
			if !reflect.DeepEqual(c, tc.in) {
				t.Fatalf("Copy = %v, want %v", c, tc.in)
			}
			tc.mutate(c)
			if reflect.DeepEqual(c, tc.in) {
				t.Fatal("changing the copy changed the original")
			}
		})
	}
	var null any
	if got := Copy(null); got != nil {
		t.Errorf("Copy(nil) = %#v, want nil", got)
	}
	// A nil map or list copies to an empty one, as JSON has no typed nil.
	if got := Copy(map[string]any(nil)); got == nil || len(got) != 0 {
		t.Errorf("Copy(nil map) = %#v, want an empty map", got)
	}
}
