// Package jobtemplate renders Prefect base job templates with Prefect's exact
// rules (prefect.utilities.templating and
// BaseJobConfiguration.from_template_and_values), so that work pools made for
// the Python worker render identically here.
//
// JSON values are expected as decoded with json.Decoder.UseNumber: a
// json.Number keeps the int/float distinction Python makes ("1" is an int,
// "1.0" and "1e3" are floats), which decides how a value is stringified.
package jobtemplate

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// placeholderRE is Prefect's PLACEHOLDER_CAPTURE_REGEX.
var placeholderRE = regexp.MustCompile(`({{\s*([\w\.\-\[\]$]+)\s*}})`)

const (
	blockPrefix    = "prefect.blocks."
	variablePrefix = "prefect.variables."
	envPrefix      = "$"
)

type kind int

const (
	standard kind = iota
	blockDocument
	variable
	envVar
)

type placeholder struct {
	full, name string
	kind       kind
}

func kindOf(name string) kind {
	switch {
	case strings.HasPrefix(name, blockPrefix):
		return blockDocument
	case strings.HasPrefix(name, variablePrefix):
		return variable
	case strings.HasPrefix(name, envPrefix):
		return envVar
	}
	return standard
}

// findPlaceholders returns the distinct placeholders of s, as Python's set of
// them. The order is made deterministic (Python's set order is not); the
// replacements commute unless one value contains another placeholder's text.
func findPlaceholders(s string) []placeholder {
	seen := map[string]bool{}
	var out []placeholder
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		if seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		out = append(out, placeholder{full: m[1], name: m[2], kind: kindOf(m[2])})
	}
	return out
}

// notSet marks a value that has no placeholder replacement (Python's NotSet).
type notSetType struct{}

var notSet any = notSetType{}

// Resolver reads what block and variable placeholders refer to.
type Resolver interface {
	// BlockDocument returns the data of the block document with this id
	// (secrets included).
	BlockDocument(ctx context.Context, id string) (map[string]any, error)
	// BlockDocumentByName returns the data of a block document by type slug
	// and name (secrets included).
	BlockDocumentByName(ctx context.Context, typeSlug, name string) (map[string]any, error)
	// Variable returns a Prefect variable's value; found is false when the
	// variable does not exist.
	Variable(ctx context.Context, name string) (value any, found bool, err error)
}

// Options configure Render.
type Options struct {
	// Resolver resolves block and variable placeholders; nil leaves them
	// unresolved and makes a block reference an error.
	Resolver Resolver
	// LookupEnv reads {{ $NAME }} placeholders; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// ApplyValues substitutes placeholders in template with values, as Prefect's
// apply_values(template, values, remove_notset=True), reading {{ $NAME }}
// placeholders from the process environment.
func ApplyValues(template any, values map[string]any) any {
	return applyValues(template, values, os.LookupEnv)
}

func applyValues(template any, values map[string]any, lookupEnv func(string) (string, bool)) any {
	v := apply(template, values, lookupEnv)
	if v == notSet {
		return nil
	}
	return v
}

func apply(template any, values map[string]any, lookupEnv func(string) (string, bool)) any {
	switch t := template.(type) {
	case string:
		phs := findPlaceholders(t)
		if len(phs) == 0 {
			return t
		}
		if len(phs) == 1 && phs[0].full == t && phs[0].kind == standard {
			return GetFromDict(values, phs[0].name)
		}
		out := t
		for _, p := range phs {
			var (
				val   any = notSet
				isStr bool
				str   string
			)
			switch p.kind {
			case standard:
				val = GetFromDict(values, p.name)
			case envVar:
				if s, ok := lookupEnv(strings.TrimLeft(p.name, envPrefix)); ok {
					str, isStr = s, true
				}
			default:
				continue
			}
			switch {
			case isStr:
				out = strings.ReplaceAll(out, p.full, str)
			case val == notSet:
				out = strings.ReplaceAll(out, p.full, "")
			default:
				out = strings.ReplaceAll(out, p.full, PyStr(val))
			}
		}
		return out
	case map[string]any:
		res := make(map[string]any, len(t))
		for k, v := range t {
			nv := apply(v, values, lookupEnv)
			if nv != notSet {
				res[k] = nv
			}
		}
		return res
	case []any:
		res := make([]any, 0, len(t))
		for _, v := range t {
			nv := apply(v, values, lookupEnv)
			if nv != notSet {
				res = append(res, nv)
			}
		}
		return res
	default:
		// Numbers, booleans and null are returned untouched.
		return template
	}
}

// GetFromDict follows a Prefect keypath ("a.b[0].c") through nested maps and
// lists as prefect.utilities.collections.get_from_dict does. It returns an
// unexported marker when the path does not resolve; use Lookup to test.
func GetFromDict(values any, keypath string) any {
	v, ok := Lookup(values, keypath)
	if !ok {
		return notSet
	}
	return v
}

// Lookup follows a Prefect keypath; ok is false when it does not resolve.
func Lookup(values any, keypath string) (any, bool) {
	keys := strings.Split(strings.ReplaceAll(strings.ReplaceAll(keypath, "[", "."), "]", ""), ".")
	cur := values
	for _, key := range keys {
		idx, isInt := pyInt(key)
		switch c := cur.(type) {
		case map[string]any:
			if isInt {
				// Python looks a dict up with the int itself, which never
				// matches a JSON (string) key.
				return nil, false
			}
			v, ok := c[key]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			if !isInt {
				return nil, false
			}
			if idx < 0 {
				idx += len(c)
			}
			if idx < 0 || idx >= len(c) {
				return nil, false
			}
			cur = c[idx]
		case string:
			if !isInt {
				return nil, false
			}
			r := []rune(c)
			if idx < 0 {
				idx += len(r)
			}
			if idx < 0 || idx >= len(r) {
				return nil, false
			}
			cur = string(r[idx])
		default:
			return nil, false
		}
	}
	return cur, true
}

// pyInt parses key the way Python's int(str) does for the keys that matter:
// optional surrounding whitespace, an optional sign, ASCII digits and
// single underscores between digits.
func pyInt(key string) (int, bool) {
	s := strings.TrimSpace(key)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return 0, false
	}
	n := 0
	for _, r := range s {
		if r == '_' {
			continue
		}
		if r < '0' || r > '9' {
			return 0, false
		}
		if n > (1<<31)/10 {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// MergeJobVariables merges deployment and flow-run job variables as
// BaseJobConfiguration.resolve_for_flow_run does: flow-run values replace
// deployment values wholesale, except env, merged key by key when the
// deployment's env is an object.
func MergeJobVariables(deployment, flowRun map[string]any) map[string]any {
	out := make(map[string]any, len(deployment)+len(flowRun))
	for k, v := range deployment {
		out[k] = v
	}
	fr := make(map[string]any, len(flowRun))
	for k, v := range flowRun {
		fr[k] = v
	}
	if env, ok := out["env"].(map[string]any); ok {
		merged := make(map[string]any, len(env))
		for k, v := range env {
			merged[k] = v
		}
		if frEnv, present := fr["env"]; present {
			delete(fr, "env")
			// Python's dict.update accepts only a mapping here.
			if m, ok := frEnv.(map[string]any); ok {
				for k, v := range m {
					merged[k] = v
				}
			}
		}
		out["env"] = merged
	}
	for k, v := range fr {
		out[k] = v
	}
	return out
}

// Render builds a job configuration from a base job template and job
// variables, as BaseJobConfiguration.from_template_and_values does before
// model validation: variable defaults, dotted-key expansion, env merging,
// apply_values, block document references, then Prefect variables.
func Render(ctx context.Context, baseJobTemplate map[string]any, values map[string]any, opts Options) (map[string]any, error) {
	lookupEnv := opts.LookupEnv
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	jc, ok := baseJobTemplate["job_configuration"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("base job template: job_configuration is %s, want an object", typeName(baseJobTemplate["job_configuration"]))
	}
	base := deepCopy(jc).(map[string]any)
	vars := map[string]any{}
	if schema, ok := baseJobTemplate["variables"].(map[string]any); ok {
		if props, ok := schema["properties"].(map[string]any); ok {
			for name, attrs := range props {
				a, ok := attrs.(map[string]any)
				if !ok {
					continue
				}
				if d, ok := a["default"]; ok && d != nil {
					vars[name] = deepCopy(d)
				}
			}
		}
	}
	if truthy(vars["env"]) {
		if be, ok := base["env"].(map[string]any); ok {
			merged, err := dictOr(be, vars["env"])
			if err != nil {
				return nil, err
			}
			base["env"] = merged
		} else {
			base["env"] = vars["env"]
		}
	}

	transformed := map[string]any{}
	for _, key := range sortedKeys(values) {
		if strings.Contains(key, ".") {
			if err := setInDict(transformed, key, deepCopy(values[key])); err != nil {
				return nil, err
			}
		}
	}
	for _, key := range sortedKeys(values) {
		if strings.Contains(key, ".") {
			continue
		}
		v := deepCopy(values[key])
		prev, havePrev := transformed[key].(map[string]any)
		if vm, ok := v.(map[string]any); ok && havePrev {
			transformed[key] = deepMerge(prev, vm)
		} else {
			transformed[key] = v
		}
	}
	for k, v := range transformed {
		vars[k] = v
	}
	if be, ok := base["env"].(map[string]any); ok && truthy(vars["env"]) {
		merged, err := dictOr(be, vars["env"])
		if err != nil {
			return nil, err
		}
		base["env"] = merged
	}

	out := applyValues(base, vars, lookupEnv)
	resolved, err := ResolveBlockDocumentReferences(ctx, out, opts.Resolver)
	if err != nil {
		return nil, err
	}
	resolved, err = ResolveVariables(ctx, resolved, opts.Resolver)
	if err != nil {
		return nil, err
	}
	m, ok := resolved.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("rendered job configuration is %s, want an object", typeName(resolved))
	}
	return m, nil
}

// dictOr is Python's dict | other for a dict left operand; like Python it
// refuses a right operand that is not a dict.
func dictOr(a map[string]any, b any) (map[string]any, error) {
	bm, ok := b.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("env: cannot merge a %s into the job configuration's env object", typeName(b))
	}
	out := make(map[string]any, len(a)+len(bm))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range bm {
		out[k] = v
	}
	return out, nil
}

func setInDict(dct map[string]any, keypath string, value any) error {
	keys := strings.Split(strings.ReplaceAll(strings.ReplaceAll(keypath, "[", "."), "]", ""), ".")
	cur := dct
	for _, k := range keys[:len(keys)-1] {
		next, present := cur[k]
		if !present {
			m := map[string]any{}
			cur[k] = m
			cur = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("job variable %q: key path exists and contains a non-dict value", keypath)
		}
		cur = m
	}
	cur[keys[len(keys)-1]] = value
	return nil
}

func deepMerge(dst, src map[string]any) map[string]any {
	out := make(map[string]any, len(dst)+len(src))
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range src {
		if a, ok := out[k].(map[string]any); ok {
			if b, ok := v.(map[string]any); ok {
				out[k] = deepMerge(a, b)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// ResolveBlockDocumentReferences replaces {"$ref": {"block_document_id": ID}}
// objects by the block document's data and resolves
// {{ prefect.blocks.TYPE.NAME[.KEYPATH] }} placeholders, as Prefect's
// resolve_block_document_references does.
func ResolveBlockDocumentReferences(ctx context.Context, template any, r Resolver) (any, error) {
	byID := map[string]map[string]any{}
	byName := map[[2]string]map[string]any{}
	var resolve func(any) (any, error)
	single := func(p placeholder, tmpl string) (any, error) {
		parts := strings.SplitN(strings.Replace(p.name, blockPrefix, "", 1), ".", 3)
		if len(parts) < 2 {
			return nil, fmt.Errorf("invalid block placeholder format: '%s'. Expected format: prefect.blocks.<block-type-slug>.<block-document-name>", p.name)
		}
		slug, name := parts[0], parts[1]
		key := [2]string{slug, name}
		data, ok := byName[key]
		if !ok {
			if r == nil {
				return nil, fmt.Errorf("block placeholder %s: no resolver", p.full)
			}
			d, err := r.BlockDocumentByName(ctx, slug, name)
			if err != nil {
				return nil, fmt.Errorf("block not found: '%s' of type '%s': %w", name, slug, err)
			}
			byName[key], data = d, d
		}
		var cur any = data
		if len(data) == 1 {
			if v, ok := data["value"]; ok && (len(parts) < 3 || !strings.HasPrefix(parts[2], "value")) {
				cur = v
			}
		}
		if len(parts) == 3 {
			v, ok := Lookup(cur, parts[2])
			if !ok {
				return nil, fmt.Errorf("invalid template: %s. Could not resolve the keypath in the block document data", PyRepr(tmpl))
			}
			cur = v
		}
		return deepCopy(cur), nil
	}
	resolve = func(t any) (any, error) {
		switch tt := t.(type) {
		case map[string]any:
			if ref, ok := tt["$ref"].(map[string]any); ok {
				if id := ref["block_document_id"]; truthy(id) {
					ids := PyStr(id)
					data, ok := byID[ids]
					if !ok {
						if r == nil {
							return nil, fmt.Errorf("block reference %s: no resolver", ids)
						}
						d, err := r.BlockDocument(ctx, ids)
						if err != nil {
							return nil, fmt.Errorf("block not found: ID '%s': %w", ids, err)
						}
						byID[ids], data = d, d
					}
					return deepCopy(data), nil
				}
			}
			out := make(map[string]any, len(tt))
			for k, v := range tt {
				nv, err := resolve(v)
				if err != nil {
					return nil, err
				}
				out[k] = nv
			}
			return out, nil
		case []any:
			out := make([]any, 0, len(tt))
			for _, v := range tt {
				nv, err := resolve(v)
				if err != nil {
					return nil, err
				}
				out = append(out, nv)
			}
			return out, nil
		case string:
			phs := findPlaceholders(tt)
			hasBlock := false
			for _, p := range phs {
				hasBlock = hasBlock || p.kind == blockDocument
			}
			if !hasBlock {
				return tt, nil
			}
			if len(phs) == 1 && phs[0].full == tt {
				return single(phs[0], tt)
			}
			out := tt
			for _, p := range phs {
				if p.kind != blockDocument {
					continue
				}
				v, err := single(p, tt)
				if err != nil {
					return nil, err
				}
				switch v.(type) {
				case map[string]any, []any:
					return nil, fmt.Errorf("invalid template: %s. Block placeholder %s resolved to a %s, which cannot be used for inline string substitution. Resolve a scalar attribute instead (e.g., '.value' or '.url')", PyRepr(tt), PyRepr(p.full), typeName(v))
				}
				out = strings.ReplaceAll(out, p.full, PyStr(v))
			}
			return out, nil
		}
		return t, nil
	}
	return resolve(template)
}

// ResolveVariables resolves {{ prefect.variables.NAME }} placeholders as
// Prefect's resolve_variables does: a missing variable becomes "" when alone
// and is removed from longer strings.
func ResolveVariables(ctx context.Context, template any, r Resolver) (any, error) {
	type entry struct {
		v     any
		found bool
	}
	cache := map[string]entry{}
	read := func(name string) (any, bool, error) {
		n := strings.Replace(name, variablePrefix, "", 1)
		if e, ok := cache[n]; ok {
			return e.v, e.found, nil
		}
		if r == nil {
			return nil, false, fmt.Errorf("variable placeholder %s: no resolver", name)
		}
		v, found, err := r.Variable(ctx, n)
		if err != nil {
			return nil, false, fmt.Errorf("read variable %q: %w", n, err)
		}
		cache[n] = entry{v, found}
		return v, found, nil
	}
	var resolve func(any) (any, error)
	resolve = func(t any) (any, error) {
		switch tt := t.(type) {
		case string:
			phs := findPlaceholders(tt)
			hasVar := false
			for _, p := range phs {
				hasVar = hasVar || p.kind == variable
			}
			if !hasVar {
				return tt, nil
			}
			if len(phs) == 1 && phs[0].full == tt {
				v, found, err := read(phs[0].name)
				if err != nil {
					return nil, err
				}
				if !found {
					return "", nil
				}
				return deepCopy(v), nil
			}
			out := tt
			for _, p := range phs {
				if p.kind != variable {
					continue
				}
				v, found, err := read(p.name)
				if err != nil {
					return nil, err
				}
				if !found {
					out = strings.ReplaceAll(out, p.full, "")
				} else {
					out = strings.ReplaceAll(out, p.full, PyStr(v))
				}
			}
			return out, nil
		case map[string]any:
			out := make(map[string]any, len(tt))
			for k, v := range tt {
				nv, err := resolve(v)
				if err != nil {
					return nil, err
				}
				out[k] = nv
			}
			return out, nil
		case []any:
			out := make([]any, 0, len(tt))
			for _, v := range tt {
				nv, err := resolve(v)
				if err != nil {
					return nil, err
				}
				out = append(out, nv)
			}
			return out, nil
		}
		return t, nil
	}
	return resolve(template)
}

func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		return t != ""
	case map[string]any:
		return len(t) > 0
	case []any:
		return len(t) > 0
	default:
		if f, ok := toFloat(v); ok {
			return f != 0
		}
		return true
	}
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = deepCopy(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = deepCopy(x)
		}
		return out
	}
	return v
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
