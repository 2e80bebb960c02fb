package jobtemplate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aciworker/aciworker/internal/jsonvalue"
	"github.com/aciworker/aciworker/internal/pyvenv"
)

// corpusCase is one differential case: rendered by Python Prefect (the
// oracle, run in the test) and by this package, compared as JSON.
type corpusCase struct {
	Name         string                    `json:"name"`
	Mode         string                    `json:"mode"` // apply, render, merge or flow_run (see testdata/oracle.py)
	Template     any                       `json:"template"`
	Values       map[string]any            `json:"values"`
	Env          map[string]string         `json:"env,omitempty"`
	Blocks       map[string]map[string]any `json:"blocks,omitempty"`
	BlocksByName map[string]map[string]any `json:"blocks_by_name,omitempty"`
	Variables    map[string]any            `json:"variables,omitempty"`
	// merge and flow_run modes: the job variables of the deployment and of
	// the flow run, merged as resolve_for_flow_run does.
	DeploymentJobVariables map[string]any `json:"deployment_job_variables,omitempty"`
	FlowRunJobVariables    map[string]any `json:"flow_run_job_variables,omitempty"`
}

type caseResolver corpusCase

func (r *caseResolver) BlockDocument(_ context.Context, id string) (Block, error) {
	if d, ok := r.Blocks[id]; ok {
		return Block{Data: jsonvalue.Copy(d)}, nil
	}
	return Block{}, fmt.Errorf("block %s: not found", id)
}

func (r *caseResolver) BlockDocumentByName(_ context.Context, slug, name string) (Block, error) {
	if d, ok := r.BlocksByName[slug+"/"+name]; ok {
		return Block{Data: jsonvalue.Copy(d)}, nil
	}
	return Block{}, fmt.Errorf("block %s/%s: not found", slug, name)
}

func (r *caseResolver) Variable(_ context.Context, name string) (any, bool, error) {
	v, ok := r.Variables[name]
	return jsonvalue.Copy(v), ok, nil
}

func decodeNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

func loadCorpus(t *testing.T) []corpusCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in testdata/corpus (%v)", err)
	}
	sort.Strings(files)
	var cases []corpusCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fc []corpusCase
		if err := decodeNumbers(data, &fc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range fc {
			fc[i].Name = filepath.Base(f) + ": " + fc[i].Name
		}
		cases = append(cases, fc...)
	}
	cases = append(cases, generatedCases(220)...)
	cases = append(cases, generatedMergeCases(40)...)
	cases = append(cases, aciCases(t)...)
	return cases
}

// generatedCases builds random templates and values from a fixed seed, so the
// corpus is the same on every run.
func generatedCases(n int) []corpusCase {
	rng := rand.New(rand.NewPCG(7, 11))
	names := []string{"a", "b", "c", "cpu", "env", "image", "x-y", "n1"}
	scalar := func() any {
		switch rng.IntN(9) {
		case 0:
			return json.Number(fmt.Sprint(rng.IntN(2000) - 1000))
		case 1:
			return json.Number(fmt.Sprintf("%d.%d", rng.IntN(100), rng.IntN(100)))
		case 2:
			return json.Number(fmt.Sprintf("%de%d", 1+rng.IntN(9), rng.IntN(40)-20))
		case 3:
			return rng.IntN(2) == 0
		case 4:
			return nil
		case 5:
			return []string{"", "plain", "ünï", "it's", `q"q`, "multi\nline", "[x]", "☃"}[rng.IntN(8)]
		case 6:
			return json.Number([]string{"1.0", "0.5", "100.0", "1e16", "1e-05", "123456789.125"}[rng.IntN(6)])
		default:
			return fmt.Sprintf("s%d", rng.IntN(100))
		}
	}
	var value func(depth int) any
	value = func(depth int) any {
		if depth > 2 || rng.IntN(3) > 0 {
			return scalar()
		}
		if rng.IntN(2) == 0 {
			l := make([]any, rng.IntN(3))
			for i := range l {
				l[i] = value(depth + 1)
			}
			return l
		}
		m := map[string]any{}
		for i := 0; i < rng.IntN(3); i++ {
			m[names[rng.IntN(len(names))]] = value(depth + 1)
		}
		return m
	}
	placeholderText := func() string {
		name := names[rng.IntN(len(names))]
		if rng.IntN(5) == 0 {
			name += []string{".a", "[0]", ".0", "[-1]", ".b.c"}[rng.IntN(5)]
		}
		return fmt.Sprintf([]string{"{{ %s }}", "{{%s}}", "{{  %s }}"}[rng.IntN(3)], name)
	}
	var tmpl func(depth int) any
	tmpl = func(depth int) any {
		switch r := rng.IntN(7); {
		case r < 2:
			return placeholderText()
		case r < 4:
			parts := []string{"pre-", placeholderText(), " and ", placeholderText(), "/post"}
			return strings.Join(parts[:1+rng.IntN(len(parts))], "")
		case r == 4 && depth < 3:
			l := make([]any, 1+rng.IntN(3))
			for i := range l {
				l[i] = tmpl(depth + 1)
			}
			return l
		case r == 5 && depth < 3:
			m := map[string]any{}
			for i := 0; i < 1+rng.IntN(3); i++ {
				m[fmt.Sprintf("k%d", i)] = tmpl(depth + 1)
			}
			return m
		default:
			return scalar()
		}
	}
	out := make([]corpusCase, 0, n)
	for i := 0; i < n; i++ {
		vals := map[string]any{}
		for _, nm := range names {
			if rng.IntN(3) > 0 {
				vals[nm] = value(0)
			}
		}
		c := corpusCase{Name: fmt.Sprintf("generated %d", i), Values: vals}
		if i%4 == 3 {
			props := map[string]any{}
			jc := map[string]any{}
			for _, nm := range names {
				jc[nm] = "{{ " + nm + " }}"
				p := map[string]any{}
				if rng.IntN(2) == 0 {
					p["default"] = value(1)
				}
				props[nm] = p
			}
			jc["mixed"] = tmpl(1)
			c.Mode = "render"
			c.Template = map[string]any{"job_configuration": jc, "variables": map[string]any{"properties": props}}
		} else {
			c.Mode = "apply"
			c.Template = map[string]any{"v": tmpl(0)}
		}
		out = append(out, roundTrip(c))
	}
	return out
}

// roundTrip normalises a generated case through JSON so both sides see
// exactly the same values.
func roundTrip(c corpusCase) corpusCase {
	data, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	var out corpusCase
	if err := decodeNumbers(data, &out); err != nil {
		panic(err)
	}
	return out
}

// generatedMergeCases pair random deployment and flow-run job variables,
// env in every shape Python's merge meets (object, absent, null, string, list
// of pairs, bad list), merged alone or merged and rendered.
func generatedMergeCases(n int) []corpusCase {
	rng := rand.New(rand.NewPCG(3, 5))
	envs := []func() any{
		func() any { return map[string]any{"A": "d", "B": json.Number("1")} },
		func() any { return map[string]any{"B": "f", "C": nil} },
		func() any { return map[string]any{} },
		func() any { return nil },
		func() any { return "K=V" },
		func() any { return []any{[]any{"P", "q"}, "XY"} },
		func() any { return []any{"XYZ"} },
		func() any { return json.Number("5") },
		func() any { return "" },
	}
	jobVars := func() map[string]any {
		m := map[string]any{}
		if rng.IntN(4) > 0 {
			m["env"] = envs[rng.IntN(len(envs))]()
		}
		for _, k := range []string{"image", "cpu", "env.Z", "labels"} {
			if rng.IntN(3) == 0 {
				m[k] = []any{"img:" + fmt.Sprint(rng.IntN(9)), json.Number("2.0"), "z", map[string]any{"t": "x"}}[rng.IntN(4)]
			}
		}
		if rng.IntN(5) == 0 {
			return nil
		}
		return m
	}
	tmpls := []map[string]any{
		{"job_configuration": map[string]any{"env": "{{ env }}", "image": "{{ image }}", "cpu": "cpu={{ cpu }}", "labels": "{{ labels }}"},
			"variables": map[string]any{"properties": map[string]any{"env": map[string]any{"type": "object"}, "image": map[string]any{"default": "base:1"}}}},
		{"job_configuration": map[string]any{"env": map[string]any{"BASE": "b", "A": "base"}, "image": "{{ image }}"},
			"variables": map[string]any{"properties": map[string]any{"env": map[string]any{"default": map[string]any{"DEF": "d"}}}}},
	}
	out := make([]corpusCase, 0, n)
	for i := 0; i < n; i++ {
		c := corpusCase{
			Name:                   fmt.Sprintf("generated merge %d", i),
			Mode:                   "merge",
			DeploymentJobVariables: jobVars(),
			FlowRunJobVariables:    jobVars(),
		}
		if i%2 == 1 {
			c.Mode = "flow_run"
			c.Template = tmpls[rng.IntN(len(tmpls))]
			c.Values = map[string]any{}
		}
		out = append(out, roundTrip(c))
	}
	return out
}

// aciCases render the real default ACI base job template with realistic
// job variables.
func aciCases(t *testing.T) []corpusCase {
	// The prefectaci package embeds this file; importing it here would be a cycle.
	raw, err := os.ReadFile(filepath.Join("..", "prefectaci", "basejobtemplate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl map[string]any
	if err := decodeNumbers(raw, &tmpl); err != nil {
		t.Fatal(err)
	}
	vals := []string{
		`{"resource_group_name":"rg","subscription_id":"sub"}`,
		`{"resource_group_name":"rg","subscription_id":"sub","env":{"A":"1"},"env.B":"2","cpu":2}`,
		`{"resource_group_name":"rg","subscription_id":"sub","image":"prefecthq/prefect:3-latest","command":"prefect flow-run execute","memory":1.5,"keep_container_group":true,"stream_output":true}`,
		`{"resource_group_name":"rg","subscription_id":"sub","identities":["/subscriptions/s/resourceGroups/r/providers/Microsoft.ManagedIdentity/userAssignedIdentities/i"],"subnet_ids":["/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/virtualNetworks/v/subnets/s"],"dns_servers":["10.0.0.10"],"gpu_count":1,"gpu_sku":"V100"}`,
		`{"resource_group_name":"rg","subscription_id":"sub","aci_credentials":{"$ref":{"block_document_id":"creds"}},"image_registry":{"registry_url":"reg.example.com","username":"u","password":"{{ prefect.blocks.secret.regpw }}"}}`,
		`{"resource_group_name":"{{ prefect.variables.rg }}","subscription_id":"sub","name":"{{ prefect.variables.none }}","labels":{"team":"data"},"task_start_timeout_seconds":60,"task_watch_poll_interval":1.5}`,
	}
	out := make([]corpusCase, 0, len(vals))
	for i, v := range vals {
		var m map[string]any
		if err := decodeNumbers([]byte(v), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, roundTrip(corpusCase{
			Name: fmt.Sprintf("aci default template %d", i), Mode: "render", Template: tmpl, Values: m,
			Blocks:       map[string]map[string]any{"creds": {"client_id": "c", "tenant_id": "t", "client_secret": "s"}},
			BlocksByName: map[string]map[string]any{"secret/regpw": {"value": "pw"}},
			Variables:    map[string]any{"rg": "from-variable"},
		}))
	}
	return out
}

func goRender(c corpusCase) (any, error) {
	// The environment is exactly the case's, on both sides.
	lookup := func(name string) (string, bool) {
		v, ok := c.Env[name]
		return v, ok
	}
	r := caseResolver(c)
	opts := Options{Resolver: &r, LookupEnv: lookup}
	tmpl, _ := c.Template.(map[string]any)
	switch c.Mode {
	case "apply":
		return applyValues(c.Template, c.Values, lookup), nil
	case "render":
		return Render(context.Background(), tmpl, c.Values, opts)
	case "merge":
		return MergeJobVariablesStrict(c.DeploymentJobVariables, c.FlowRunJobVariables)
	case "flow_run":
		vals, err := MergeJobVariablesStrict(c.DeploymentJobVariables, c.FlowRunJobVariables)
		if err != nil {
			return nil, err
		}
		return Render(context.Background(), tmpl, vals, opts)
	}
	return nil, fmt.Errorf("case %q: unknown mode %q", c.Name, c.Mode)
}

// pyNumber is a number as Python sees it: its type and its repr.
type pyNumber struct{ typ, repr string }

// canonical rewrites numbers so that Python's and Go's JSON spellings of the
// same value compare equal (Python prints 1000.0 where the input, and so Go's
// output, says 1e3) while ints and floats stay distinct: both sides are read
// with json.Number, and each number becomes its Python type and repr. A
// distinct type keeps a number from ever equalling a string.
func canonical(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			out[k] = canonical(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = canonical(x)
		}
		return out
	case json.Number:
		s := string(t)
		if !strings.ContainsAny(s, ".eE") {
			n, _ := new(big.Int).SetString(s, 10)
			return pyNumber{"int", n.String()}
		}
		return pyNumber{"float", reprNumber(s)}
	}
	return v
}

func TestDifferentialAgainstPrefect(t *testing.T) {
	venv := pyvenv.Require(t)
	cases := loadCorpus(t)
	if len(cases) < 200 {
		t.Fatalf("corpus has %d cases, want at least 200", len(cases))
	}
	var in bytes.Buffer
	for _, c := range cases {
		line, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		in.Write(line)
		in.WriteByte('\n')
	}
	cmd := exec.Command(filepath.Join(venv, "bin", "python"), filepath.Join("testdata", "oracle.py"))
	cmd.Stdin = &in
	// No server is involved: blocks and variables come from the cases. The
	// unreachable API URL keeps Prefect from starting an ephemeral one.
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir(), "PREFECT_API_URL=http://127.0.0.1:9/api")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python oracle: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	i := 0
	failed := 0
	stats := map[string]int{}
	for sc.Scan() {
		if i >= len(cases) {
			t.Fatalf("oracle printed more lines than cases")
		}
		c := cases[i]
		i++
		var want struct {
			Result  any     `json:"result"`
			Error   *string `json:"error"`
			Message string  `json:"message"`
		}
		if err := decodeNumbers(sc.Bytes(), &want); err != nil {
			t.Fatalf("case %q: oracle output: %v", c.Name, err)
		}
		stats[c.Mode]++
		if want.Error != nil {
			stats[c.Mode+" raising "+*want.Error]++
		}
		got, gerr := goRender(c)
		switch {
		case want.Error != nil && gerr == nil:
			failed++
			t.Errorf("case %q: Python raised %s, Go returned %s", c.Name, *want.Error, mustJSON(got))
		case want.Error != nil && *want.Error == "ValueError" && !containsPyMessage(gerr.Error(), want.Message):
			// Prefect's own ValueErrors name the template and placeholder;
			// ours must carry the same text.
			failed++
			t.Errorf("case %q: Python raised ValueError(%q), Go's error lacks it: %v", c.Name, want.Message, gerr)
		case want.Error == nil && gerr != nil:
			failed++
			t.Errorf("case %q: Go failed (%v), Python returned %s", c.Name, gerr, mustJSON(want.Result))
		case want.Error == nil:
			var gotNorm any
			if err := decodeNumbers([]byte(mustJSON(got)), &gotNorm); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(canonical(gotNorm), canonical(want.Result)) {
				failed++
				t.Errorf("case %q:\n python: %s\n     go: %s", c.Name, mustJSON(want.Result), mustJSON(got))
			}
		}
	}
	if i != len(cases) {
		t.Fatalf("oracle answered %d of %d cases\n%s", i, len(cases), stderr.String())
	}
	t.Logf("%d cases, %d differ; by mode and outcome: %v", len(cases), failed, stats)
}

// containsPyMessage reports whether a Go error carries a Python exception
// message, allowing for Go's error style (no leading capital, no final
// period).
func containsPyMessage(goMsg, pyMsg string) bool {
	m := strings.TrimSuffix(pyMsg, ".")
	if m != "" {
		m = strings.ToLower(m[:1]) + m[1:]
	}
	return strings.Contains(goMsg, m)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}
