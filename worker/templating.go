package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Interim templating while the jobtemplate package is written: Prefect's
// from_template_and_values pipeline (defaults, job variables, apply_values,
// block references, variables). These functions become calls into
// jobtemplate once it lands.

func mergeJobVariables(deployment, flowRun map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range deployment {
		out[k] = v
	}
	if env, ok := out["env"].(map[string]any); ok {
		if frEnv, ok := flowRun["env"].(map[string]any); ok {
			merged := map[string]any{}
			for k, v := range env {
				merged[k] = v
			}
			for k, v := range frEnv {
				merged[k] = v
			}
			out["env"] = merged
			flowRun = withoutKey(flowRun, "env")
		}
	}
	for k, v := range flowRun {
		out[k] = v
	}
	return out
}

func withoutKey(m map[string]any, key string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

var placeholderRE = regexp.MustCompile(`{{\s*([\w\.\-\[\]$]+)\s*}}`)

type notSet struct{}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	case string:
		return x != ""
	case bool:
		return x
	}
	return true
}

func renderTemplate(ctx context.Context, base map[string]any, values map[string]any, r *resolver) (map[string]any, error) {
	jcRaw, ok := base["job_configuration"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the work pool's base job template has no job_configuration object")
	}
	jc := deepCopyJSON(jcRaw).(map[string]any)
	vars := deepCopyJSON(withDefaults(base, nil)).(map[string]any)
	if truthy(vars["env"]) {
		if e, ok := jc["env"].(map[string]any); ok {
			for k, v := range vars["env"].(map[string]any) {
				e[k] = v
			}
		} else {
			jc["env"] = vars["env"]
		}
	}
	for k, v := range expandDotted(values) {
		vars[k] = v
	}
	if e, ok := jc["env"].(map[string]any); ok && truthy(vars["env"]) {
		if ve, ok := vars["env"].(map[string]any); ok {
			for k, v := range ve {
				e[k] = v
			}
		}
	}
	out := applyValues(jc, vars, r.LookupEnv)
	m, ok := out.(map[string]any)
	if !ok {
		m = map[string]any{}
	}
	res, err := resolveBlocks(ctx, m, r)
	if err != nil {
		return nil, err
	}
	res, err = resolveVariables(ctx, res, r)
	if err != nil {
		return nil, err
	}
	return res.(map[string]any), nil
}

// expandDotted applies "a.b" keys as nested values, then plain keys on top.
func expandDotted(values map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range values {
		if !strings.Contains(k, ".") {
			continue
		}
		parts := strings.Split(k, ".")
		cur := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[parts[len(parts)-1]] = v
	}
	for k, v := range values {
		if strings.Contains(k, ".") {
			continue
		}
		if a, ok := out[k].(map[string]any); ok {
			if b, ok := v.(map[string]any); ok {
				for bk, bv := range b {
					a[bk] = bv
				}
				continue
			}
		}
		out[k] = v
	}
	return out
}

func getFromDict(values map[string]any, key string) (any, bool) {
	keys := strings.Split(strings.ReplaceAll(strings.ReplaceAll(key, "[", "."), "]", ""), ".")
	var cur any = values
	for _, k := range keys {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[k]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func placeholderKind(name string) string {
	switch {
	case strings.HasPrefix(name, "prefect.blocks."):
		return "block"
	case strings.HasPrefix(name, "prefect.variables."):
		return "variable"
	case strings.HasPrefix(name, "$"):
		return "env"
	}
	return "standard"
}

func applyValues(t any, values map[string]any, lookupEnv func(string) (string, bool)) any {
	switch x := t.(type) {
	case string:
		ms := placeholderRE.FindAllStringSubmatch(x, -1)
		if len(ms) == 0 {
			return x
		}
		if len(ms) == 1 && ms[0][0] == x && placeholderKind(ms[0][1]) == "standard" {
			v, ok := getFromDict(values, ms[0][1])
			if !ok {
				return notSet{}
			}
			return v
		}
		for _, m := range ms {
			var v any
			var ok bool
			switch placeholderKind(m[1]) {
			case "standard":
				v, ok = getFromDict(values, m[1])
			case "env":
				var s string
				s, ok = lookupEnv(strings.TrimLeft(m[1], "$"))
				v = s
			default:
				continue
			}
			if !ok {
				x = strings.ReplaceAll(x, m[0], "")
			} else {
				x = strings.ReplaceAll(x, m[0], pyStr(v))
			}
		}
		return x
	case map[string]any:
		out := map[string]any{}
		for k, v := range x {
			nv := applyValues(v, values, lookupEnv)
			if _, ns := nv.(notSet); !ns {
				out[k] = nv
			}
		}
		return out
	case []any:
		out := []any{}
		for _, v := range x {
			nv := applyValues(v, values, lookupEnv)
			if _, ns := nv.(notSet); !ns {
				out = append(out, nv)
			}
		}
		return out
	}
	return t
}

func resolveBlocks(ctx context.Context, t any, r *resolver) (any, error) {
	switch x := t.(type) {
	case map[string]any:
		if ref, ok := x["$ref"].(map[string]any); ok {
			if id, ok := ref["block_document_id"].(string); ok && id != "" {
				data, err := r.BlockDocument(ctx, id)
				if err != nil {
					return nil, fmt.Errorf("block not found: ID '%s': %w", id, err)
				}
				return deepCopyJSON(data), nil
			}
		}
		out := map[string]any{}
		for k, v := range x {
			nv, err := resolveBlocks(ctx, v, r)
			if err != nil {
				return nil, err
			}
			out[k] = nv
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, v := range x {
			nv, err := resolveBlocks(ctx, v, r)
			if err != nil {
				return nil, err
			}
			out = append(out, nv)
		}
		return out, nil
	case string:
		ms := placeholderRE.FindAllStringSubmatch(x, -1)
		for _, m := range ms {
			if placeholderKind(m[1]) != "block" {
				continue
			}
			parts := strings.SplitN(strings.TrimPrefix(m[1], "prefect.blocks."), ".", 3)
			if len(parts) < 2 {
				return nil, fmt.Errorf("invalid template: %q must name a block type and a block document", m[0])
			}
			data, err := r.BlockDocumentByName(ctx, parts[0], parts[1])
			if err != nil {
				return nil, fmt.Errorf("block %s/%s: %w", parts[0], parts[1], err)
			}
			var v any = data
			keypath := ""
			if len(parts) == 3 {
				keypath = parts[2]
			}
			if len(data) == 1 && data["value"] != nil && !strings.HasPrefix(keypath, "value") {
				v = data["value"]
			}
			if keypath != "" {
				vm, _ := v.(map[string]any)
				got, ok := getFromDict(vm, keypath)
				if !ok {
					return nil, fmt.Errorf("invalid template: %q: could not resolve the keypath %q", m[0], keypath)
				}
				v = got
			}
			if m[0] == x {
				return v, nil
			}
			switch v.(type) {
			case map[string]any, []any:
				return nil, fmt.Errorf("invalid template: %q resolves to an object and cannot be embedded in text", m[0])
			}
			x = strings.ReplaceAll(x, m[0], pyStr(v))
		}
		return x, nil
	}
	return t, nil
}

func resolveVariables(ctx context.Context, t any, r *resolver) (any, error) {
	switch x := t.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, v := range x {
			nv, err := resolveVariables(ctx, v, r)
			if err != nil {
				return nil, err
			}
			out[k] = nv
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, v := range x {
			nv, err := resolveVariables(ctx, v, r)
			if err != nil {
				return nil, err
			}
			out = append(out, nv)
		}
		return out, nil
	case string:
		ms := placeholderRE.FindAllStringSubmatch(x, -1)
		for _, m := range ms {
			if placeholderKind(m[1]) != "variable" {
				continue
			}
			v, found, err := r.Variable(ctx, strings.TrimPrefix(m[1], "prefect.variables."))
			if err != nil {
				return nil, err
			}
			if m[0] == x {
				if !found {
					return "", nil
				}
				return v, nil
			}
			if !found {
				x = strings.ReplaceAll(x, m[0], "")
			} else {
				x = strings.ReplaceAll(x, m[0], pyStr(v))
			}
		}
		return x, nil
	}
	return t, nil
}

func deepCopyJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopyJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopyJSON(e)
		}
		return out
	}
	return v
}

// pyStr is Python's str() of a JSON value.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case map[string]any:
		parts := []string{}
		for _, k := range sortedKeys(x) {
			parts = append(parts, pyRepr(k)+": "+pyRepr(x[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := []string{}
		for _, i := range x {
			parts = append(parts, pyRepr(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	default:
		return fmt.Sprint(x)
	}
}

func pyRepr(v any) string {
	if s, ok := v.(string); ok {
		return "'" + strings.ReplaceAll(s, "'", "\\'") + "'"
	}
	return pyStr(v)
}
