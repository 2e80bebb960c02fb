package armtemplate

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// templateMembers are the members ARM's Template type has; anything else is
// rejected while the request body is deserialised (member names match
// case-insensitively, as with Newtonsoft.Json).
var templateMembers = []string{"$schema", "contentVersion", "parameters", "variables", "functions", "resources", "outputs", "metadata", "apiProfile"}

var parameterMembers = []string{"type", "defaultValue", "allowedValues", "metadata", "minValue", "maxValue", "minLength", "maxLength"}

// paramTypes maps the lower-case declared type to the token type ARM's
// validation message names as expected.
var paramTypes = map[string]string{
	"string":       "String, Uri",
	"securestring": "String, Uri",
	"int":          "Integer",
	"bool":         "Boolean",
	"object":       "Object",
	"secureobject": "Object",
	"array":        "Array",
}

type slotState int

const (
	unresolved slotState = iota
	resolving
	resolved
)

type paramSlot struct {
	name     string // as declared
	typ      string // as declared
	decl     map[string]any
	supplied bool
	raw      any
	state    slotState
	value    any
	err      error
}

type varSlot struct {
	name  string
	raw   any
	state slotState
	value any
	err   error
}

type userFunc struct {
	name   string // namespace.name as declared
	params []userFuncParam
	output map[string]any
	path   string
}

type userFuncParam struct{ name, typ string }

type evaluator struct {
	scope    Scope
	spent    int64
	params   map[string]*paramSlot
	vars     map[string]*varSlot
	varStack []string
	funcs    map[string]*userFunc
	template map[string]any
	supplied map[string]any
}

func newEvaluator(scope Scope) *evaluator {
	return &evaluator{
		scope:  scope,
		params: map[string]*paramSlot{},
		vars:   map[string]*varSlot{},
		funcs:  map[string]*userFunc{},
	}
}

// Evaluate validates and evaluates a deployment: the template and the
// deployment's parameters (name -> {"value": v}, exactly as sent in
// properties.parameters). Supplied values are taken literally; defaults
// are evaluated. Every error is an *Error shaped as ARM reports it.
// Evaluate does not modify its arguments.
func Evaluate(template map[string]any, parameters map[string]any, scope Scope) (*Result, error) {
	if template == nil {
		return nil, requestContent("Required property 'template' not found in JSON.", "properties")
	}
	tv, err := normalize(template)
	if err != nil {
		return nil, requestContent(fmt.Sprintf("The template is not valid JSON: %v.", err), "properties.template")
	}
	pv, err := normalize(parameters)
	if err != nil {
		return nil, requestContent(fmt.Sprintf("The deployment parameters are not valid JSON: %v.", err), "properties.parameters")
	}
	ev := newEvaluator(scope)
	ev.template = tv.(map[string]any)
	if pm, ok := pv.(map[string]any); ok {
		ev.supplied = pm
	} else {
		ev.supplied = map[string]any{}
	}
	res, err := ev.run()
	if err != nil {
		return nil, ev.redact(err)
	}
	return res, nil
}

// minRedacted is the shortest secure value redacted from messages; shorter
// ones would garble unrelated words and protect nothing.
const minRedacted = 3

// redact removes the values of secure parameters from an error, since
// messages can quote values (int('...'), property names) and errors end up
// in logs.
func (ev *evaluator) redact(err error) error {
	var secrets []string
	var collect func(v any)
	collect = func(v any) {
		switch x := v.(type) {
		case string:
			if len(x) >= minRedacted {
				secrets = append(secrets, x)
			}
		case json.Number:
			if len(x) >= minRedacted {
				secrets = append(secrets, string(x))
			}
		case []any:
			for _, e := range x {
				collect(e)
			}
		case map[string]any:
			for _, e := range x {
				collect(e)
			}
		}
	}
	for _, p := range ev.params {
		if !isSecure(p.typ) {
			continue
		}
		if p.supplied {
			collect(p.raw)
		} else if p.state == resolved {
			collect(p.value)
		}
	}
	if len(secrets) == 0 {
		return err
	}
	// Longest first, so a secret containing another is removed whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	var scrub func(e *Error) *Error
	scrub = func(e *Error) *Error {
		out := *e
		for _, s := range secrets {
			out.Message = strings.ReplaceAll(out.Message, s, "***")
			out.Target = strings.ReplaceAll(out.Target, s, "***")
		}
		out.Details = make([]Error, len(e.Details))
		for i := range e.Details {
			out.Details[i] = *scrub(&e.Details[i])
		}
		if len(out.Details) == 0 {
			out.Details = nil
		}
		return &out
	}
	var ae *Error
	if errors.As(err, &ae) {
		return scrub(ae)
	}
	return err
}

func (ev *evaluator) run() (*Result, error) {
	t := ev.template
	sections, err := templateSections(t)
	if err != nil {
		return nil, err
	}
	if err := ev.declareParameters(sections["parameters"]); err != nil {
		return nil, err
	}
	if err := ev.bindParameters(); err != nil {
		return nil, err
	}
	if err := ev.declareFunctions(sections["functions"]); err != nil {
		return nil, err
	}
	if err := ev.declareVariables(sections["variables"]); err != nil {
		return nil, err
	}
	res := &Result{Parameters: map[string]Param{}, Outputs: map[string]Param{}}
	for _, k := range sortedKeys(ev.params) {
		p := ev.params[k]
		v, err := ev.resolveParam(p)
		if err != nil {
			return nil, err
		}
		res.Parameters[p.name] = Param{Type: p.typ, Value: deepCopy(v)}
	}
	for _, k := range sortedKeys(ev.vars) {
		if _, err := ev.resolveVar(ev.vars[k]); err != nil {
			return nil, err
		}
	}
	if res.Resources, err = ev.resources(sections["resources"]); err != nil {
		return nil, err
	}
	if res.Outputs, err = ev.outputs(sections["outputs"]); err != nil {
		return nil, err
	}
	return res, nil
}

// templateSections checks the template's members and returns them keyed by
// canonical name.
func templateSections(t map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for _, k := range sortedKeys(t) {
		canon := ""
		for _, m := range templateMembers {
			if strings.EqualFold(k, m) {
				canon = m
			}
		}
		if canon == "" {
			return nil, requestContent(fmt.Sprintf("Could not find member '%s' on object of type 'Template'.", k), "properties.template."+k)
		}
		if _, dup := out[canon]; dup {
			return nil, requestContent(fmt.Sprintf("The template member '%s' is given more than once (member names are case-insensitive).", k), "properties.template."+k)
		}
		out[canon] = t[k]
	}
	cv, ok := out["contentVersion"]
	if !ok {
		return nil, requestContent("Required property 'contentVersion' not found in JSON.", "properties.template")
	}
	if _, isStr := cv.(string); !isStr {
		return nil, requestContent(fmt.Sprintf("The template member 'contentVersion' must be a string, not a value of type '%s'.", kindOf(cv)), "properties.template.contentVersion")
	}
	r, ok := out["resources"]
	if !ok {
		return nil, requestContent("Required property 'resources' not found in JSON.", "properties.template")
	}
	if _, isArr := r.([]any); !isArr {
		return nil, requestContent(fmt.Sprintf("The template member 'resources' must be an array, not a value of type '%s'.", kindOf(r)), "properties.template.resources")
	}
	for _, name := range []string{"parameters", "variables", "outputs", "metadata"} {
		if v, ok := out[name]; ok && v != nil {
			if _, isObj := v.(map[string]any); !isObj {
				return nil, requestContent(fmt.Sprintf("The template member '%s' must be an object, not a value of type '%s'.", name, kindOf(v)), "properties.template."+name)
			}
		}
	}
	if v, ok := out["functions"]; ok && v != nil {
		if _, isArr := v.([]any); !isArr {
			return nil, requestContent(fmt.Sprintf("The template member 'functions' must be an array, not a value of type '%s'.", kindOf(v)), "properties.template.functions")
		}
	}
	return out, nil
}

func (ev *evaluator) declareParameters(section any) error {
	decls, _ := section.(map[string]any)
	for _, name := range sortedKeys(decls) {
		path := "properties.template.parameters." + name
		if IsExpression(name) {
			return validationFailed(fmt.Sprintf("The template parameter name '%s' is not valid: parameter names must not be language expressions", name), path, name)
		}
		d, ok := decls[name].(map[string]any)
		if !ok {
			return requestContent(fmt.Sprintf("The template parameter '%s' must be an object, not a value of type '%s'.", name, kindOf(decls[name])), path)
		}
		for _, k := range sortedKeys(d) {
			if !containsFold(parameterMembers, k) {
				return requestContent(fmt.Sprintf("Could not find member '%s' on object of type 'TemplateInputParameter'.", k), path+"."+k)
			}
		}
		tv, _ := lookupKey(d, "type")
		typ, ok := tv.(string)
		if !ok {
			return validationFailed(fmt.Sprintf("The template parameter '%s' must declare a 'type' (one of 'string, securestring, int, bool, object, secureObject, array')", name), path, name)
		}
		if _, known := paramTypes[strings.ToLower(typ)]; !known {
			return validationFailed(fmt.Sprintf("The template parameter '%s' has the type '%s', which is not valid; the supported types are 'string, securestring, int, bool, object, secureObject, array'", name, typ), path+".type", name)
		}
		lname := strings.ToLower(name)
		if other, dup := ev.params[lname]; dup {
			return validationFailed(fmt.Sprintf("The template parameters '%s' and '%s' differ only in case; parameter names are case-insensitive", other.name, name), path, name)
		}
		ev.params[lname] = &paramSlot{name: name, typ: typ, decl: d}
	}
	return nil
}

// bindParameters attaches the deployment's values to the declarations.
func (ev *evaluator) bindParameters() error {
	var unknown []string
	for _, name := range sortedKeys(ev.supplied) {
		p, ok := ev.params[strings.ToLower(name)]
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		path := "properties.parameters." + name
		entry, isObj := ev.supplied[name].(map[string]any)
		if !isObj {
			return requestContent(fmt.Sprintf("The deployment parameter '%s' must be an object such as {\"value\": ...}, not a value of type '%s'.", name, kindOf(ev.supplied[name])), path)
		}
		if _, ref := lookupKey(entry, "reference"); ref {
			return validationFailed(fmt.Sprintf("The deployment parameter '%s' uses a Key Vault 'reference', which this emulator does not support", name), path, name)
		}
		if v, has := lookupKey(entry, "value"); has && v != nil {
			p.supplied, p.raw = true, v
		}
	}
	if len(unknown) > 0 {
		declared := make([]string, 0, len(ev.params))
		for _, k := range sortedKeys(ev.params) {
			declared = append(declared, ev.params[k].name)
		}
		return validationFailed(fmt.Sprintf("The template parameters '%s' are not valid; they are not present in the original template and can therefore not be provided at deployment time. The only supported parameters for this template are '%s'. Please see https://aka.ms/arm-pass-parameter-values for usage details", strings.Join(unknown, ", "), strings.Join(declared, ", ")), "properties.parameters", "")
	}
	return nil
}

func (ev *evaluator) param(name string) (any, error) {
	p, ok := ev.params[strings.ToLower(name)]
	if !ok {
		return nil, exprErrorf("The template parameter '%s' is not found. Please see https://aka.ms/arm-syntax-parameters for usage details.", name)
	}
	return ev.resolveParam(p)
}

func (ev *evaluator) resolveParam(p *paramSlot) (any, error) {
	switch p.state {
	case resolved:
		return p.value, p.err
	case resolving:
		return nil, validationFailed(fmt.Sprintf("The template parameter '%s' is not valid: its default value refers to itself through a circular reference", p.name), "properties.template.parameters."+p.name, p.name)
	}
	p.state = resolving
	p.value, p.err = ev.computeParam(p)
	p.state = resolved
	return p.value, p.err
}

func (ev *evaluator) computeParam(p *paramSlot) (any, error) {
	path := "properties.template.parameters." + p.name
	var v any
	switch def, hasDefault := lookupKey(p.decl, "defaultValue"); {
	case p.supplied:
		v = p.raw
		path = "properties.parameters." + p.name
	case hasDefault:
		c := &evalCtx{ev: ev, where: inParameterDefault}
		r, _, err := c.evalTree(def, path+".defaultValue")
		if err != nil {
			return nil, ev.finalize(err, fmt.Sprintf("default value of the template parameter '%s'", p.name), path+".defaultValue")
		}
		v = r
	default:
		return nil, validationFailed(fmt.Sprintf("The value for the template parameter '%s' is not provided. Please see https://aka.ms/resource-manager-parameter-files for usage details", p.name), path, p.name)
	}
	if msg := checkParamValue(p, v); msg != "" {
		return nil, validationFailed(msg, path, p.name)
	}
	return v, nil
}

func isSecure(typ string) bool {
	return strings.EqualFold(typ, "securestring") || strings.EqualFold(typ, "secureobject")
}

// typeMatches reports whether v has the JSON token type a declared type
// needs. int accepts only Integer tokens (1.0 is a Float for ARM).
func typeMatches(typ string, v any) bool {
	switch strings.ToLower(typ) {
	case "string", "securestring":
		_, ok := v.(string)
		return ok
	case "int":
		_, ok := asInt(v)
		return ok
	case "bool":
		_, ok := v.(bool)
		return ok
	case "object", "secureobject":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	}
	return false
}

func checkParamValue(p *paramSlot, v any) string {
	if !typeMatches(p.typ, v) {
		return fmt.Sprintf("Template parameter JToken type is not valid. Expected '%s'. Actual '%s'. Please see https://aka.ms/resource-manager-parameter-files for usage details", paramTypes[strings.ToLower(p.typ)], kindOf(v))
	}
	shown := func() string {
		if isSecure(p.typ) {
			return ""
		}
		return "'" + toText(v) + "' "
	}
	if av, ok := lookupKey(p.decl, "allowedValues"); ok {
		allowed, isArr := av.([]any)
		if !isArr {
			return fmt.Sprintf("The template parameter '%s' has 'allowedValues' of type '%s'; it must be an array", p.name, kindOf(av))
		}
		candidates := []any{v}
		if arr, isArr := v.([]any); isArr && strings.EqualFold(p.typ, "array") {
			candidates = arr // each element of an array parameter must be allowed
		}
		for _, c := range candidates {
			if !containsValue(allowed, c) {
				list := make([]string, len(allowed))
				for i, a := range allowed {
					list[i] = toText(a)
				}
				return fmt.Sprintf("The provided value %sfor the template parameter '%s' is not valid. The parameter value is not part of the allowed values: '%s'. Please see https://aka.ms/arm-syntax-parameters for usage details", shown(), p.name, strings.Join(list, ","))
			}
		}
	}
	var length int64 = -1
	switch x := v.(type) {
	case string:
		length = int64(len([]rune(x)))
	case []any:
		length = int64(len(x))
	}
	for _, lim := range []struct {
		key  string
		less bool // the value must not be less than the limit
		len  bool
	}{{"minLength", true, true}, {"maxLength", false, true}, {"minValue", true, false}, {"maxValue", false, false}} {
		lv, ok := lookupKey(p.decl, lim.key)
		if !ok {
			continue
		}
		n, isInt := asInt(lv)
		if !isInt {
			return fmt.Sprintf("The template parameter '%s' has '%s' of type '%s'; it must be an integer", p.name, lim.key, kindOf(lv))
		}
		var actual int64
		if lim.len {
			if length < 0 {
				return fmt.Sprintf("The template parameter '%s' declares '%s', which applies only to strings and arrays", p.name, lim.key)
			}
			actual = length
		} else {
			i, isInt := asInt(v)
			if !isInt {
				return fmt.Sprintf("The template parameter '%s' declares '%s', which applies only to integers", p.name, lim.key)
			}
			actual = i
		}
		what := "Length of the value"
		if !lim.len {
			what = "The value"
		}
		if lim.less && actual < n {
			return fmt.Sprintf("The provided value %sfor the template parameter '%s' is not valid. %s should be greater than or equal to '%d'", shown(), p.name, what, n)
		}
		if !lim.less && actual > n {
			return fmt.Sprintf("The provided value %sfor the template parameter '%s' is not valid. %s should be less than or equal to '%d'", shown(), p.name, what, n)
		}
	}
	return ""
}

func containsValue(list []any, v any) bool {
	for _, a := range list {
		if deepEqual(a, v) {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (ev *evaluator) declareVariables(section any) error {
	decls, _ := section.(map[string]any)
	for _, name := range sortedKeys(decls) {
		path := "properties.template.variables." + name
		if strings.EqualFold(name, "copy") {
			return validationFailed("The template variables use 'copy', which this emulator does not support", path, name)
		}
		if IsExpression(name) {
			return validationFailed(fmt.Sprintf("The template variable name '%s' is not valid: variable names must not be language expressions", name), path, name)
		}
		lname := strings.ToLower(name)
		if other, dup := ev.vars[lname]; dup {
			return validationFailed(fmt.Sprintf("The template variables '%s' and '%s' differ only in case; variable names are case-insensitive", other.name, name), path, name)
		}
		ev.vars[lname] = &varSlot{name: name, raw: decls[name]}
	}
	return nil
}

func (ev *evaluator) variable(name string) (any, error) {
	v, ok := ev.vars[strings.ToLower(name)]
	if !ok {
		return nil, exprErrorf("The template variable '%s' is not found. Please see https://aka.ms/arm-syntax-variables for usage details.", name)
	}
	return ev.resolveVar(v)
}

func (ev *evaluator) resolveVar(v *varSlot) (any, error) {
	path := "properties.template.variables." + v.name
	switch v.state {
	case resolved:
		return v.value, v.err
	case resolving:
		start := 0
		for i, n := range ev.varStack {
			if n == v.name {
				start = i
			}
		}
		cycle := append(append([]string{}, ev.varStack[start:]...), v.name)
		return nil, validationFailed(fmt.Sprintf("The template variable '%s' is not valid: it has a circular reference '%s'", v.name, strings.Join(cycle, " -> ")), path, v.name)
	}
	v.state = resolving
	ev.varStack = append(ev.varStack, v.name)
	c := &evalCtx{ev: ev, where: inVariable}
	r, _, err := c.evalTree(v.raw, path)
	if err == nil {
		err = ev.charge(r)
	}
	if err != nil {
		err = ev.finalize(err, fmt.Sprintf("template variable '%s'", v.name), path)
	}
	ev.varStack = ev.varStack[:len(ev.varStack)-1]
	v.value, v.err, v.state = r, err, resolved
	return v.value, v.err
}

// resourceMember finds a member by name ignoring case, as ARM binds
// resource properties, and returns its spelling in the template.
func resourceMember(r map[string]any, key string) (string, any, bool) {
	for _, k := range sortedKeys(r) {
		if strings.EqualFold(k, key) {
			return k, r[k], true
		}
	}
	return "", nil, false
}

func (ev *evaluator) resources(section any) ([]Resource, error) {
	list, _ := section.([]any)
	var out []Resource
	seen := map[string]bool{}
	for i, item := range list {
		path := fmt.Sprintf("properties.template.resources[%d]", i)
		r, ok := item.(map[string]any)
		if !ok {
			return nil, requestContent(fmt.Sprintf("The template resource at index '%d' must be an object, not a value of type '%s'.", i, kindOf(item)), path)
		}
		res, keep, err := ev.resource(r, path)
		if err != nil {
			return nil, err
		}
		if !keep {
			continue
		}
		key := strings.ToLower(res.Type + "/" + res.Name)
		if seen[key] {
			return nil, validationFailed(fmt.Sprintf("The resource '%s' is defined multiple times in a template. Please see https://aka.ms/arm-syntax-resources for usage details", resourceIDFor(ev.scope, res.Type, res.Name)), path, res.Name)
		}
		seen[key] = true
		out = append(out, res)
	}
	return out, nil
}

func literalMember(r map[string]any, key, path string) (string, error) {
	k, v, ok := resourceMember(r, key)
	if !ok || v == nil {
		return "", validationFailed(fmt.Sprintf("The template resource at '%s' is missing the required property '%s'", strings.TrimPrefix(path, "properties.template."), key), path, "")
	}
	s, isStr := v.(string)
	if !isStr || s == "" {
		return "", validationFailed(fmt.Sprintf("The template resource property '%s' must be a non-empty string, not a value of type '%s'", key, kindOf(v)), path+"."+k, "")
	}
	if IsExpression(s) {
		return "", validationFailed(fmt.Sprintf("The template resource property '%s' with value '%s' is not valid: the resource '%s' must be a literal value, not a template language expression", key, s, key), path+"."+k, "")
	}
	if strings.HasPrefix(s, "[[") && strings.HasSuffix(s, "]") {
		s = s[1:]
	}
	return s, nil
}

func (ev *evaluator) resource(r map[string]any, path string) (Resource, bool, error) {
	typ, err := literalMember(r, "type", path)
	if err != nil {
		return Resource{}, false, err
	}
	apiVersion, err := literalMember(r, "apiVersion", path)
	if err != nil {
		return Resource{}, false, err
	}
	nameKey, rawName, ok := resourceMember(r, "name")
	if !ok || rawName == nil {
		return Resource{}, false, validationFailed(fmt.Sprintf("The template resource at '%s' is missing the required property 'name'", strings.TrimPrefix(path, "properties.template.")), path, "")
	}
	label := fmt.Sprintf("template resource at '%s' of type '%s'", strings.TrimPrefix(path, "properties.template."), typ)
	if s, isStr := rawName.(string); isStr {
		label = fmt.Sprintf("template resource '%s' of type '%s'", s, typ)
	}
	if k, _, has := resourceMember(r, "copy"); has {
		return Resource{}, false, validationFailed(fmt.Sprintf("The %s uses 'copy' (resource iteration), which this emulator does not support", label), path+"."+k, "")
	}
	if k, _, has := resourceMember(r, "resources"); has {
		return Resource{}, false, validationFailed(fmt.Sprintf("The %s declares nested child 'resources', which this emulator does not support; declare child resources at the top level", label), path+"."+k, "")
	}
	c := &evalCtx{ev: ev, where: inResource}
	if k, cond, has := resourceMember(r, "condition"); has {
		cv, _, err := c.evalTree(cond, path+"."+k)
		if err != nil {
			return Resource{}, false, ev.finalize(err, label, path+"."+k)
		}
		b, isBool := cv.(bool)
		if !isBool {
			return Resource{}, false, validationFailed(fmt.Sprintf("The %s is not valid: its 'condition' must be a boolean, not a value of type '%s'", label, kindOf(cv)), path+"."+k, "")
		}
		if !b {
			// Azure still rejects malformed expressions in skipped resources.
			if err := checkSyntax(r, path); err != nil {
				return Resource{}, false, ev.finalize(err, label, path)
			}
			return Resource{}, false, nil
		}
	}
	nv, _, err := c.evalTree(rawName, path+"."+nameKey)
	if err != nil {
		return Resource{}, false, ev.finalize(err, label, path+"."+nameKey)
	}
	name, isStr := nv.(string)
	if !isStr || name == "" {
		return Resource{}, false, validationFailed(fmt.Sprintf("The %s is not valid: its 'name' must evaluate to a non-empty string, not a value of type '%s'", label, kindOf(nv)), path+"."+nameKey, "")
	}
	label = fmt.Sprintf("template resource '%s' of type '%s'", name, typ)
	typeSegs := strings.Count(typ, "/") + 1
	nameSegs := strings.Count(name, "/") + 1
	if typeSegs < 2 || nameSegs != typeSegs-1 {
		return Resource{}, false, validationFailed(fmt.Sprintf("The template resource '%s' for type '%s' has incorrect segment lengths. A nested resource type must have identical number of segments as its resource name. A root resource type must have segment length one greater than its resource name. Please see https://aka.ms/arm-syntax-resources for usage details", name, typ), path+"."+nameKey, "")
	}
	body := make(map[string]any, len(r))
	for _, k := range sortedKeys(r) {
		if strings.EqualFold(k, "condition") {
			continue
		}
		v, drop, err := c.evalTree(r[k], joinPath(path, k))
		if err != nil {
			return Resource{}, false, ev.finalize(err, label, joinPath(path, k))
		}
		if !drop {
			body[k] = v
		}
	}
	if err := ev.charge(body); err != nil {
		return Resource{}, false, ev.finalize(err, label, path)
	}
	if k, deps, has := resourceMember(body, "dependsOn"); has {
		arr, isArr := deps.([]any)
		if !isArr {
			return Resource{}, false, validationFailed(fmt.Sprintf("The %s is not valid: 'dependsOn' must be an array of resource names or ids, not a value of type '%s'", label, kindOf(deps)), path+"."+k, "")
		}
		for j, d := range arr {
			if _, ok := d.(string); !ok {
				return Resource{}, false, validationFailed(fmt.Sprintf("The %s is not valid: 'dependsOn' entries must be strings, not a value of type '%s'", label, kindOf(d)), fmt.Sprintf("%s.%s[%d]", path, k, j), "")
			}
		}
	}
	loc := ""
	if _, lv, has := resourceMember(body, "location"); has {
		s, ok := lv.(string)
		if !ok {
			return Resource{}, false, validationFailed(fmt.Sprintf("The %s is not valid: 'location' must be a string, not a value of type '%s'", label, kindOf(lv)), path+".location", "")
		}
		loc = s
	}
	body[nameKey] = name
	return Resource{Type: typ, APIVersion: apiVersion, Name: name, Location: loc, Body: deepCopy(body).(map[string]any)}, true, nil
}

// checkSyntax parses every expression in v without evaluating it.
func checkSyntax(v any, path string) error {
	switch x := v.(type) {
	case string:
		if _, err := ParseExpression(x); err != nil {
			var ae *Error
			if errors.As(err, &ae) {
				return &pathError{path: path, err: &exprError{msg: ae.Message}}
			}
			return err
		}
	case []any:
		for i, e := range x {
			if err := checkSyntax(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if err := checkSyntax(x[k], joinPath(path, k)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (ev *evaluator) outputs(section any) (map[string]Param, error) {
	decls, _ := section.(map[string]any)
	out := map[string]Param{}
	for _, name := range sortedKeys(decls) {
		path := "properties.template.outputs." + name
		d, ok := decls[name].(map[string]any)
		if !ok {
			return nil, requestContent(fmt.Sprintf("The template output '%s' must be an object, not a value of type '%s'.", name, kindOf(decls[name])), path)
		}
		label := fmt.Sprintf("template output '%s'", name)
		tv, _ := lookupKey(d, "type")
		typ, ok := tv.(string)
		if !ok || paramTypes[strings.ToLower(typ)] == "" {
			return nil, validationFailed(fmt.Sprintf("The %s must declare a 'type' (one of 'string, securestring, int, bool, object, secureObject, array')", label), path, name)
		}
		if _, _, has := resourceMember(d, "copy"); has {
			return nil, validationFailed(fmt.Sprintf("The %s uses 'copy', which this emulator does not support", label), path+".copy", name)
		}
		c := &evalCtx{ev: ev, where: inOutput}
		if k, cond, has := resourceMember(d, "condition"); has {
			cv, _, err := c.evalTree(cond, path+"."+k)
			if err != nil {
				return nil, ev.finalize(err, label, path+"."+k)
			}
			b, isBool := cv.(bool)
			if !isBool {
				return nil, validationFailed(fmt.Sprintf("The %s is not valid: its 'condition' must be a boolean, not a value of type '%s'", label, kindOf(cv)), path+"."+k, name)
			}
			if !b {
				continue
			}
		}
		k, raw, has := resourceMember(d, "value")
		if !has {
			return nil, validationFailed(fmt.Sprintf("The %s is missing the required property 'value'", label), path, name)
		}
		v, _, err := c.evalTree(raw, path+"."+k)
		if err == nil {
			err = ev.charge(v)
		}
		if err != nil {
			return nil, ev.finalize(err, label, path+"."+k)
		}
		if !typeMatches(typ, v) {
			return nil, validationFailed(fmt.Sprintf("The %s is not valid: Template output JToken type is not valid. Expected '%s'. Actual '%s'", label, paramTypes[strings.ToLower(typ)], kindOf(v)), path+"."+k, name)
		}
		out[name] = Param{Type: typ, Value: deepCopy(v)}
	}
	return out, nil
}
