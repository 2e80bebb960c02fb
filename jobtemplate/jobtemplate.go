// Package jobtemplate renders Prefect base job templates with Prefect's exact
// rules (prefect.utilities.templating and
// BaseJobConfiguration.from_template_and_values), so that work pools made for
// the Python worker render identically here.
//
// JSON values are expected as decoded with json.Decoder.UseNumber: a
// json.Number keeps the int/float distinction Python makes ("1" is an int,
// "1.0" and "1e3" are floats), which decides how a value is stringified.
//
// The rules follow Prefect 3.8.8, checked against it by a differential test.
// Where Python's result depends on something a Go map[string]any has lost,
// the result is made deterministic instead:
//   - a dict embedded in a string prints its keys sorted (Python: insertion
//     order, which the API's JSON carried);
//   - dotted job-variable keys ("env.A") are applied in sorted order, which
//     matters only when two of them conflict ("a.b" and "a.b.c");
//   - the placeholders of one string are replaced in order of appearance
//     (Python: set order, which varies between runs); this matters only when
//     a value contains another placeholder of the same string.
//
// Characters unassigned in Python's Unicode version but assigned in Go's are
// classified by Go's tables (word characters, repr escaping, digits).
package jobtemplate

import (
	"context"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/aciworker/aciworker/internal/jsonvalue"
)

// placeholderRE is Prefect's PLACEHOLDER_CAPTURE_REGEX,
// ({{\s*([\w\.\-\[\]$]+)\s*}}), spelled out because Python's \w and \s
// are Unicode-aware while RE2's are ASCII-only: \w is str.isalnum() or "_"
// (letters and numbers, not marks) and \s is str.isspace().
var placeholderRE = regexp.MustCompile(`({{` + pySpace + `*([\p{L}\p{N}_.\-\[\]$]+)` + pySpace + `*}})`)

const pySpace = `[\t\n\v\f\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]`

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

// EnvPlaceholders lists the names of the {{ $NAME }} placeholders in every
// string of v (a JSON value), in order of first appearance, whether or not
// templating would fill them: a value inserted by {{ env }} keeps its own
// placeholders literally.
func EnvPlaceholders(v any) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch t := v.(type) {
		case string:
			for _, p := range findPlaceholders(t) {
				if n := strings.TrimLeft(p.name, envPrefix); p.kind == envVar && !seen[n] {
					seen[n] = true
					out = append(out, n)
				}
			}
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(t)) {
				walk(t[k])
			}
		case []any:
			for _, x := range t {
				walk(x)
			}
		}
	}
	walk(v)
	return out
}

// notSet marks a value that has no placeholder replacement (Python's NotSet).
type notSetType struct{}

var notSet any = notSetType{}

// Block is a block document as templating reads it.
type Block struct {
	// Data is the document's data, secrets included.
	Data map[string]any
	// SecretFields are the keypaths of Data that the block's schema marks
	// secret, as Prefect lists them in secret_fields: "password",
	// "nested.token", and "headers.*" for every value under a key.
	SecretFields []string
	// Secret marks the whole document secret (a Secret block, a credentials
	// block).
	Secret bool
}

// Resolver reads what block and variable placeholders refer to.
type Resolver interface {
	// BlockDocument returns the block document with this id.
	BlockDocument(ctx context.Context, id string) (Block, error)
	// BlockDocumentByName returns a block document by type slug and name.
	BlockDocumentByName(ctx context.Context, typeSlug, name string) (Block, error)
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
	// MarkSecret, when set, is called with the path in the rendered job
	// configuration of each value that came from a secret source: a secret
	// field of a block, a Secret block, a credentials block. Everything
	// under that path is secret.
	MarkSecret func(path []string)
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
			// A copy, so that the result never shares structure with values.
			return jsonvalue.Copy(getFromDict(values, phs[0].name))
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
				val = getFromDict(values, p.name)
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

// getFromDict is get_from_dict(values, keypath, NotSet): the value at a
// Prefect keypath ("a.b[0].c"), or notSet.
func getFromDict(values any, keypath string) any {
	v, ok := Lookup(values, keypath)
	if !ok {
		return notSet
	}
	return v
}

// Lookup follows a Prefect keypath; ok is false when it does not resolve.
// Like Python, a key that int() accepts indexes lists and strings and never
// matches a (string) dict key; any other key is a dict key.
func Lookup(values any, keypath string) (any, bool) {
	keys := keypathKeys(keypath)
	cur := values
	for _, key := range keys {
		idx, isInt := pyInt(key)
		switch c := cur.(type) {
		case map[string]any:
			if isInt {
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
			i, ok := pyIndex(idx, len(c))
			if !ok {
				return nil, false
			}
			cur = c[i]
		case string:
			if !isInt {
				return nil, false
			}
			r := []rune(c)
			i, ok := pyIndex(idx, len(r))
			if !ok {
				return nil, false
			}
			cur = string(r[i])
		default:
			return nil, false
		}
	}
	return cur, true
}

func pyIndex(idx int64, n int) (int, bool) {
	if idx < 0 {
		idx += int64(n)
	}
	if idx < 0 || idx >= int64(n) {
		return 0, false
	}
	return int(idx), true
}

// maxIntDigits is Python's default int_max_str_digits: int() refuses longer
// decimal strings.
const maxIntDigits = 4300

// pyInt reports whether Python's int(key) accepts key, and its value
// saturated to ±2^62 (enough to be out of range of any list). int() takes
// surrounding whitespace, one sign, and decimal digits of any script with
// single underscores between them.
func pyInt(key string) (int64, bool) {
	s := strings.TrimFunc(key, isPySpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	const limit = int64(1) << 62
	var n int64
	digits := 0
	prevUnderscore := true // a leading underscore is refused
	for _, r := range s {
		if r == '_' {
			if prevUnderscore {
				return 0, false
			}
			prevUnderscore = true
			continue
		}
		d, ok := decimalValue(r)
		if !ok {
			return 0, false
		}
		prevUnderscore = false
		digits++
		if n < limit {
			n = n*10 + int64(d)
		}
	}
	if digits == 0 || prevUnderscore || digits > maxIntDigits {
		return 0, false
	}
	n = min(n, limit)
	if neg {
		n = -n
	}
	return n, true
}

// decimalValue is unicodedata.decimal: Unicode assigns decimal digits (Nd)
// only in contiguous runs of ten starting at zero, so a digit's value is its
// distance from the start of its run modulo ten.
func decimalValue(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	start := r
	for unicode.Is(unicode.Nd, start-1) {
		start--
	}
	return int(r-start) % 10, true
}

// isPySpace is str.isspace for one character (and Python's \s).
func isPySpace(r rune) bool {
	switch {
	case r >= '\t' && r <= '\r', r >= 0x1c && r <= 0x20, r == 0x85, r == 0xa0, r == 0x1680,
		r >= 0x2000 && r <= 0x200a, r == 0x2028, r == 0x2029, r == 0x202f, r == 0x205f, r == 0x3000:
		return true
	}
	return false
}

// MergeJobVariables merges deployment and flow-run job variables as
// BaseJobConfiguration.resolve_for_flow_run does: flow-run values replace
// deployment values wholesale, except env, merged key by key when the
// deployment's env is an object. A flow-run env Python would refuse to merge
// (see MergeJobVariablesStrict) replaces the deployment's env instead.
func MergeJobVariables(deployment, flowRun map[string]any) map[string]any {
	out, err := MergeJobVariablesStrict(deployment, flowRun)
	if err != nil {
		out = make(map[string]any, len(deployment)+len(flowRun))
		for k, v := range deployment {
			out[k] = v
		}
		for k, v := range flowRun {
			out[k] = v
		}
	}
	return out
}

// MergeJobVariablesStrict is MergeJobVariables failing where Python's
// dict.update does: merging a flow-run env that is neither an object nor a
// list of [key, value] pairs into a deployment env object.
func MergeJobVariablesStrict(deployment, flowRun map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(deployment)+len(flowRun))
	for k, v := range deployment {
		out[k] = v
	}
	env, envIsDict := out["env"].(map[string]any)
	if envIsDict {
		merged := make(map[string]any, len(env))
		for k, v := range env {
			merged[k] = v
		}
		if frEnv, present := flowRun["env"]; present {
			if err := dictUpdate(merged, frEnv); err != nil {
				return nil, fmt.Errorf("merge flow run job variable env into the deployment's env: %w", err)
			}
		}
		out["env"] = merged
	}
	for k, v := range flowRun {
		if k == "env" && envIsDict {
			continue
		}
		out[k] = v
	}
	return out, nil
}

// dictUpdate is Python's dict.update(other) for JSON values: other is a
// mapping or an iterable of two-item iterables (lists, or two-character
// strings).
func dictUpdate(dst map[string]any, other any) error {
	switch o := other.(type) {
	case map[string]any:
		for k, v := range o {
			dst[k] = v
		}
		return nil
	case []any:
		pairs := make([][2]any, 0, len(o))
		for i, item := range o {
			var pair [2]any
			switch it := item.(type) {
			case []any:
				if len(it) != 2 {
					return fmt.Errorf("dictionary update sequence element #%d has length %d; 2 is required", i, len(it))
				}
				pair = [2]any{it[0], it[1]}
			case string:
				r := []rune(it)
				if len(r) != 2 {
					return fmt.Errorf("dictionary update sequence element #%d has length %d; 2 is required", i, len(r))
				}
				pair = [2]any{string(r[0]), string(r[1])}
			default:
				return fmt.Errorf("cannot convert dictionary update sequence element #%d (%s) to a sequence", i, typeName(item))
			}
			k, ok := pair[0].(string)
			if !ok {
				// A JSON object can only have string keys.
				return fmt.Errorf("dictionary update sequence element #%d has a %s key, want a string", i, typeName(pair[0]))
			}
			pairs = append(pairs, [2]any{k, pair[1]})
		}
		for _, p := range pairs {
			dst[p[0].(string)] = p[1]
		}
		return nil
	case string:
		if len([]rune(o)) == 0 {
			return nil
		}
		// The string is not quoted: env values are often credentials.
		return fmt.Errorf("dictionary update sequence element #0 has length 1; 2 is required (got a string of %d characters)", len([]rune(o)))
	}
	return fmt.Errorf("%s object is not iterable", PyRepr(typeName(other)))
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
	base := jsonvalue.Copy(jc)
	vars, err := variableDefaults(baseJobTemplate)
	if err != nil {
		return nil, err
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
	for _, key := range slices.Sorted(maps.Keys(values)) {
		if strings.Contains(key, ".") {
			if err := setInDict(transformed, key, jsonvalue.Copy(values[key])); err != nil {
				return nil, err
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(values)) {
		if strings.Contains(key, ".") {
			continue
		}
		v := jsonvalue.Copy(values[key])
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
	resolved, err := resolveBlocks(ctx, out, opts.Resolver, opts.MarkSecret)
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

// variableDefaults is _get_base_config_defaults over variables.properties:
// every non-null default. Like Python it fails on a template without
// "variables" or with a malformed schema rather than guessing.
func variableDefaults(baseJobTemplate map[string]any) (map[string]any, error) {
	schemaV, ok := baseJobTemplate["variables"]
	if !ok {
		return nil, fmt.Errorf("base job template: no \"variables\" schema")
	}
	schema, ok := schemaV.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("base job template: variables is %s, want an object", typeName(schemaV))
	}
	vars := map[string]any{}
	propsV, ok := schema["properties"]
	if !ok {
		return vars, nil
	}
	props, ok := propsV.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("base job template: variables.properties is %s, want an object", typeName(propsV))
	}
	for name, attrsV := range props {
		// Python tests `"default" in attrs` before attrs.get, so a string
		// or list without "default" passes and anything else fails.
		switch attrs := attrsV.(type) {
		case map[string]any:
			if d, ok := attrs["default"]; ok && d != nil {
				vars[name] = jsonvalue.Copy(d)
			}
			continue
		case string:
			if !strings.Contains(attrs, "default") {
				continue
			}
		case []any:
			if !containsString(attrs, "default") {
				continue
			}
		}
		return nil, fmt.Errorf("base job template: variables.properties.%s is %s, want an object", name, typeName(attrsV))
	}
	return vars, nil
}

func containsString(l []any, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
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
	return resolveBlocks(ctx, template, r, nil)
}

// resolveBlocks is ResolveBlockDocumentReferences reporting to mark (when
// set) the path of every value that came from a secret source.
func resolveBlocks(ctx context.Context, template any, r Resolver, mark func([]string)) (any, error) {
	if mark == nil {
		mark = func([]string) {}
	}
	byID := map[string]Block{}
	byName := map[[2]string]Block{}
	var resolve func(any, []string) (any, error)
	// single resolves one placeholder; secret says whether the value came
	// from a secret source.
	single := func(p placeholder, tmpl string) (v any, secret bool, err error) {
		// Python's str.replace drops every occurrence of the prefix.
		parts := strings.SplitN(strings.ReplaceAll(p.name, blockPrefix, ""), ".", 3)
		if len(parts) < 2 {
			return nil, false, fmt.Errorf("invalid block placeholder format: '%s'. Expected format: prefect.blocks.<block-type-slug>.<block-document-name>", p.name)
		}
		slug, name := parts[0], parts[1]
		key := [2]string{slug, name}
		doc, ok := byName[key]
		if !ok {
			if r == nil {
				return nil, false, fmt.Errorf("block placeholder %s: no resolver", p.full)
			}
			d, err := r.BlockDocumentByName(ctx, slug, name)
			if err != nil {
				return nil, false, fmt.Errorf("block not found: '%s' of type '%s': %w", name, slug, err)
			}
			byName[key], doc = d, d
		}
		data := doc.Data
		var cur any = data
		var at []string // the keypath into data of the value returned
		if len(data) == 1 {
			// A block holding only "value" (a system block such as Secret
			// or JSON) resolves to that value unless the keypath already
			// starts at it (Prefect 3.8.8's rule: "value", "value.x" or
			// "value[0]" does; "values" does not).
			if v, ok := data["value"]; ok && (len(parts) < 3 || !keypathAtValue(parts[2])) {
				cur, at = v, []string{"value"}
			}
		}
		if len(parts) == 3 {
			v, ok := Lookup(cur, parts[2])
			if !ok {
				return nil, false, fmt.Errorf("invalid template: %s. Could not resolve the keypath in the block document data (placeholder %s)", PyRepr(tmpl), p.full)
			}
			cur, at = v, append(at, keypathKeys(parts[2])...)
		}
		return jsonvalue.Copy(cur), doc.Secret || overlapsSecret(at, doc.SecretFields), nil
	}
	resolve = func(t any, path []string) (any, error) {
		switch tt := t.(type) {
		case map[string]any:
			if refV, present := tt["$ref"]; present {
				ref, ok := refV.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("block document reference: $ref is %s, want an object with block_document_id", typeName(refV))
				}
				if id := ref["block_document_id"]; truthy(id) {
					switch id.(type) {
					case map[string]any, []any:
						return nil, fmt.Errorf("block document reference: block_document_id is %s, want an id", typeName(id))
					}
					ids := PyStr(id)
					doc, ok := byID[ids]
					if !ok {
						if r == nil {
							return nil, fmt.Errorf("block reference %s: no resolver", ids)
						}
						d, err := r.BlockDocument(ctx, ids)
						if err != nil {
							return nil, fmt.Errorf("block not found: ID '%s': %w", ids, err)
						}
						byID[ids], doc = d, d
					}
					if doc.Secret {
						mark(slices.Clone(path))
					} else {
						for _, f := range doc.SecretFields {
							keys := strings.Split(f, ".")
							if keys[len(keys)-1] == "*" {
								keys = keys[:len(keys)-1]
							}
							mark(append(slices.Clone(path), keys...))
						}
					}
					return jsonvalue.Copy(doc.Data), nil
				}
			}
			out := make(map[string]any, len(tt))
			for k, v := range tt {
				nv, err := resolve(v, append(path, k))
				if err != nil {
					return nil, err
				}
				out[k] = nv
			}
			return out, nil
		case []any:
			out := make([]any, 0, len(tt))
			for i, v := range tt {
				nv, err := resolve(v, append(path, strconv.Itoa(i)))
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
				v, secret, err := single(phs[0], tt)
				if secret {
					mark(slices.Clone(path))
				}
				return v, err
			}
			out := tt
			for _, p := range phs {
				if p.kind != blockDocument {
					continue
				}
				v, secret, err := single(p, tt)
				if err != nil {
					return nil, err
				}
				switch v.(type) {
				case map[string]any, []any:
					return nil, fmt.Errorf("invalid template: %s. Block placeholder %s resolved to a %s, which cannot be used for inline string substitution. Resolve a scalar attribute instead (e.g., '.value' or '.url')", PyRepr(tt), PyRepr(p.full), typeName(v))
				}
				if secret {
					mark(slices.Clone(path))
				}
				out = strings.ReplaceAll(out, p.full, PyStr(v))
			}
			return out, nil
		}
		return t, nil
	}
	return resolve(template, nil)
}

// keypathKeys splits a Prefect keypath ("a.b[0].c") into its keys.
func keypathKeys(keypath string) []string {
	return strings.Split(strings.ReplaceAll(strings.ReplaceAll(keypath, "[", "."), "]", ""), ".")
}

// overlapsSecret says whether the value at keypath keys of a block's data
// is, holds or lies within one of its secret fields ("*" matches any key).
func overlapsSecret(keys []string, secretFields []string) bool {
	for _, f := range secretFields {
		fk := strings.Split(f, ".")
		n := min(len(fk), len(keys))
		match := true
		for i := 0; i < n && match; i++ {
			match = fk[i] == "*" || fk[i] == keys[i]
		}
		if match {
			return true
		}
	}
	return false
}

func keypathAtValue(keypath string) bool {
	return keypath == "value" || strings.HasPrefix(keypath, "value.") || strings.HasPrefix(keypath, "value[")
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
		n := strings.ReplaceAll(name, variablePrefix, "")
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
				return jsonvalue.Copy(v), nil
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
			return mapValues(tt, resolve)
		case []any:
			return mapItems(tt, resolve)
		}
		return t, nil
	}
	return resolve(template)
}

// mapValues rebuilds a JSON object with f applied to each value; the
// resolution passes walk templates with it.
func mapValues(m map[string]any, f func(any) (any, error)) (any, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		nv, err := f(v)
		if err != nil {
			return nil, err
		}
		out[k] = nv
	}
	return out, nil
}

// mapItems rebuilds a JSON list with f applied to each item.
func mapItems(l []any, f func(any) (any, error)) (any, error) {
	out := make([]any, 0, len(l))
	for _, v := range l {
		nv, err := f(v)
		if err != nil {
			return nil, err
		}
		out = append(out, nv)
	}
	return out, nil
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
