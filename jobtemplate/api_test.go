package jobtemplate

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// The differential corpus covers JSON-decoded input; these cover the Go
// values other packages pass in and the API's own contracts.

func TestPyStrGoValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want string
	}{
		{float64(1), "1.0"},
		{1e16, "1e+16"},
		{1e-5, "1e-05"},
		{0.0001, "0.0001"},
		{math.Inf(-1), "-inf"},
		{math.NaN(), "nan"},
		{float32(0.5), "0.5"},
		{3, "3"},
		{int64(-9), "-9"},
		{json.Number("1e3"), "1000.0"},
		{json.Number("007"), "7"},
		{[]string{"a", "it's"}, `['a', "it's"]`},
		{map[string]string{"b": "2", "a": "1"}, "{'a': '1', 'b': '2'}"},
		{map[string]any{"k": []any{nil, true, 1.5}}, "{'k': [None, True, 1.5]}"},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		if got := PyStr(tt.in); got != tt.want {
			t.Errorf("PyStr(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestApplyValuesDoesNotShareValues(t *testing.T) {
	t.Parallel()
	values := map[string]any{"a": map[string]any{"k": []any{"x"}}}
	out := ApplyValues(map[string]any{"v": "{{ a }}", "w": "{{ a }}"}, values).(map[string]any)
	out["v"].(map[string]any)["k"].([]any)[0] = "changed"
	if got := values["a"].(map[string]any)["k"].([]any)[0]; got != "x" {
		t.Fatalf("mutating the result changed values: %v", got)
	}
	if got := out["w"].(map[string]any)["k"].([]any)[0]; got != "x" {
		t.Fatalf("two placeholders share one value: %v", got)
	}
}

func TestApplyValuesReadsProcessEnv(t *testing.T) {
	t.Setenv("ACIWORKER_JT_TEST", "from-env")
	got := ApplyValues("x-{{ $ACIWORKER_JT_TEST }}", nil)
	if got != "x-from-env" {
		t.Fatalf("got %v", got)
	}
	if got := ApplyValues("{{ missing }}", nil); got != nil {
		t.Fatalf("a lone missing placeholder at the top: got %#v, want nil", got)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	v := map[string]any{"a": []any{map[string]any{"b": "c"}}, "d": map[string]any{"1": "one"}}
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"a[0].b", "c", true},
		{"a.0.b", "c", true},
		{"a.-1.b", "c", true},
		{"a.1", nil, false},
		{"d.1", nil, false}, // an int key never matches a JSON object key
		{"a.x", nil, false},
		{"a.0.b.0", "c", true},
	}
	for _, tt := range tests {
		got, ok := Lookup(v, tt.path)
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Lookup(%q) = %v, %v; want %v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

type failingResolver struct{ err error }

func (f failingResolver) BlockDocument(context.Context, string) (Block, error) {
	return Block{}, f.err
}

func (f failingResolver) BlockDocumentByName(context.Context, string, string) (Block, error) {
	return Block{}, f.err
}

func (f failingResolver) Variable(context.Context, string) (any, bool, error) {
	return nil, false, f.err
}

func TestRenderErrorsNameTheProblem(t *testing.T) {
	t.Parallel()
	boom := errors.New("server said 500")
	tmpl := func(jc map[string]any) map[string]any {
		return map[string]any{"job_configuration": jc, "variables": map[string]any{"properties": map[string]any{}}}
	}
	tests := []struct {
		name     string
		template map[string]any
		values   map[string]any
		opts     Options
		want     []string
		wrapped  error
	}{
		{"no job_configuration", map[string]any{"variables": map[string]any{}}, nil, Options{}, []string{"job_configuration"}, nil},
		{"no variables", map[string]any{"job_configuration": map[string]any{}}, nil, Options{}, []string{`"variables"`}, nil},
		{"block resolver fails", tmpl(map[string]any{"x": "{{ prefect.blocks.secret.tok }}"}), nil, Options{Resolver: failingResolver{boom}},
			[]string{"'tok'", "'secret'"}, boom},
		{"block ref resolver fails", tmpl(map[string]any{"x": map[string]any{"$ref": map[string]any{"block_document_id": "id-1"}}}), nil, Options{Resolver: failingResolver{boom}},
			[]string{"id-1"}, boom},
		{"variable resolver fails", tmpl(map[string]any{"x": "a {{ prefect.variables.v }}"}), nil, Options{Resolver: failingResolver{boom}},
			[]string{`"v"`}, boom},
		{"no resolver for a block", tmpl(map[string]any{"x": "{{ prefect.blocks.secret.tok }}"}), nil, Options{},
			[]string{"{{ prefect.blocks.secret.tok }}"}, nil},
		{"dotted key through a scalar", tmpl(map[string]any{}), map[string]any{"a.b": 1, "a.b.c": 2}, Options{}, []string{`"a.b.c"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Render(context.Background(), tt.template, tt.values, tt.opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			if tt.wrapped != nil && !errors.Is(err, tt.wrapped) {
				t.Errorf("error %q does not wrap %v", err, tt.wrapped)
			}
		})
	}
}

func TestMergeJobVariablesFallsBackWherePythonFails(t *testing.T) {
	t.Parallel()
	dep := map[string]any{"env": map[string]any{"A": "1"}, "image": "d"}
	fr := map[string]any{"env": "not-an-object"}
	if _, err := MergeJobVariablesStrict(dep, fr); err == nil || !strings.Contains(err.Error(), "env") {
		t.Fatalf("strict merge: err = %v, want an error about env", err)
	} else if strings.Contains(err.Error(), "not-an-object") {
		// An env given as a string is often a credential pasted in.
		t.Fatalf("strict merge: the error echoes the string given for env: %v", err)
	}
	got := MergeJobVariables(dep, fr)
	want := map[string]any{"env": "not-an-object", "image": "d"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("MergeJobVariables = %v, want %v", got, want)
	}
	if dep["env"].(map[string]any)["A"] != "1" || len(dep["env"].(map[string]any)) != 1 {
		t.Fatalf("deployment variables were modified: %v", dep)
	}
}

type blockResolver struct {
	byID   map[string]Block
	byName map[string]Block
}

func (r blockResolver) BlockDocument(_ context.Context, id string) (Block, error) {
	if b, ok := r.byID[id]; ok {
		return b, nil
	}
	return Block{}, errors.New("not found")
}

func (r blockResolver) BlockDocumentByName(_ context.Context, slug, name string) (Block, error) {
	if b, ok := r.byName[slug+"/"+name]; ok {
		return b, nil
	}
	return Block{}, errors.New("not found")
}

func (blockResolver) Variable(context.Context, string) (any, bool, error) { return nil, false, nil }

// Issue 16 item 2: Render reports where values from secret sources landed,
// whatever the value: a Secret block, a secret field (SecretStr, SecretDict
// "x.*", a nested block's), a whole secret document; not a plain field.
func TestRenderMarksSecretProvenance(t *testing.T) {
	t.Parallel()
	r := blockResolver{
		byName: map[string]Block{
			"secret/db":      {Data: map[string]any{"value": "s3cret-db-pw"}, SecretFields: []string{"value"}, Secret: true},
			"json/cfg":       {Data: map[string]any{"value": map[string]any{"host": "db.internal"}}},
			"conn/main":      {Data: map[string]any{"host": "h", "password": "pw-123456", "headers": map[string]any{"X-Key": "k-1"}, "inner": map[string]any{"token": "t", "name": "n"}}, SecretFields: []string{"headers.*", "inner.token", "password"}},
			"aws-creds/prod": {Data: map[string]any{"key_id": "AKIA", "secret": "x"}, Secret: true},
		},
		byID: map[string]Block{"reg": {Data: map[string]any{"username": "u", "password": "p", "registry_url": "r.io"}, SecretFields: []string{"password"}}},
	}
	tmpl := map[string]any{
		"variables": map[string]any{},
		"job_configuration": map[string]any{
			"env": map[string]any{
				"DB":      "{{ prefect.blocks.secret.db }}",
				"HOST":    "{{ prefect.blocks.json.cfg.host }}",
				"PLAIN":   "{{ prefect.blocks.conn.main.host }}",
				"MIXED":   "pw={{ prefect.blocks.conn.main.password }}@{{ prefect.blocks.conn.main.host }}",
				"HEADER":  "{{ prefect.blocks.conn.main.headers.X-Key }}",
				"NAME":    "{{ prefect.blocks.conn.main.inner.name }}",
				"INNER":   "{{ prefect.blocks.conn.main.inner }}",
				"KEY_ID":  "{{ prefect.blocks.aws-creds.prod.key_id }}",
				"LITERAL": "s3cret-db-pw",
			},
			"image_registry": map[string]any{"$ref": map[string]any{"block_document_id": "reg"}},
			"whole":          "{{ prefect.blocks.conn.main }}",
		},
	}
	var got []string
	_, err := Render(context.Background(), tmpl, nil, Options{Resolver: r, MarkSecret: func(p []string) { got = append(got, strings.Join(p, "/")) }})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	want := []string{"env/DB", "env/HEADER", "env/INNER", "env/KEY_ID", "env/MIXED", "image_registry/password", "whole"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("secret paths %v\nwant %v", got, want)
	}
}
