package armtemplate

import (
	"errors"
	"fmt"
	"strings"
)

// declareFunctions reads user-defined functions:
// [{"namespace": ns, "members": {name: {"parameters": [{"name", "type"}], "output": {"type", "value"}}}}].
func (ev *evaluator) declareFunctions(section any) error {
	list, _ := section.([]any)
	for i, item := range list {
		path := fmt.Sprintf("properties.template.functions[%d]", i)
		ns, ok := item.(map[string]any)
		if !ok {
			return requestContent(fmt.Sprintf("The template function namespace at index '%d' must be an object, not a value of type '%s'.", i, kindOf(item)), path)
		}
		nv, _ := lookupKey(ns, "namespace")
		nsName, ok := nv.(string)
		if !ok || nsName == "" || !isIdentifier(nsName) {
			return validationFailed(fmt.Sprintf("The template function namespace at index '%d' must have a 'namespace' that is an identifier", i), path, "")
		}
		mv, _ := lookupKey(ns, "members")
		members, ok := mv.(map[string]any)
		if !ok {
			return validationFailed(fmt.Sprintf("The template function namespace '%s' must have an object 'members'", nsName), path, "")
		}
		for _, fname := range sortedKeys(members) {
			fpath := fmt.Sprintf("%s.members.%s", path, fname)
			full := nsName + "." + fname
			if !isIdentifier(fname) {
				return validationFailed(fmt.Sprintf("The template function name '%s' is not valid; it must be an identifier", full), fpath, "")
			}
			def, ok := members[fname].(map[string]any)
			if !ok {
				return validationFailed(fmt.Sprintf("The template function '%s' must be an object", full), fpath, "")
			}
			uf := &userFunc{name: full, path: fpath}
			if pv, has := lookupKey(def, "parameters"); has && pv != nil {
				plist, ok := pv.([]any)
				if !ok {
					return validationFailed(fmt.Sprintf("The template function '%s' must declare 'parameters' as an array", full), fpath+".parameters", "")
				}
				for j, p := range plist {
					pm, ok := p.(map[string]any)
					pn, _ := lookupKey(pm, "name")
					pt, _ := lookupKey(pm, "type")
					pname, ok1 := pn.(string)
					ptype, ok2 := pt.(string)
					if !ok || !ok1 || !ok2 || paramTypes[strings.ToLower(ptype)] == "" {
						return validationFailed(fmt.Sprintf("The parameter at index '%d' of the template function '%s' must have a 'name' and a valid 'type'", j, full), fmt.Sprintf("%s.parameters[%d]", fpath, j), "")
					}
					uf.params = append(uf.params, userFuncParam{name: pname, typ: ptype})
				}
			}
			ov, _ := lookupKey(def, "output")
			out, ok := ov.(map[string]any)
			if !ok {
				return validationFailed(fmt.Sprintf("The template function '%s' must have an 'output' object", full), fpath, "")
			}
			ot, _ := lookupKey(out, "type")
			if s, ok := ot.(string); !ok || paramTypes[strings.ToLower(s)] == "" {
				return validationFailed(fmt.Sprintf("The output of the template function '%s' must declare a valid 'type'", full), fpath+".output", "")
			}
			if _, has := lookupKey(out, "value"); !has {
				return validationFailed(fmt.Sprintf("The output of the template function '%s' must have a 'value'", full), fpath+".output", "")
			}
			uf.output = out
			key := strings.ToLower(full)
			if _, dup := ev.funcs[key]; dup {
				return validationFailed(fmt.Sprintf("The template function '%s' is defined more than once", full), fpath, "")
			}
			ev.funcs[key] = uf
		}
	}
	return nil
}

func isIdentifier(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentStart(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// callUser evaluates a user-defined function. As in ARM, its body sees
// only its own parameters: no template parameters, variables, or other
// user-defined functions.
func (c *evalCtx) callUser(n *call, lname string) (any, error) {
	uf, ok := c.ev.funcs[lname]
	if !ok {
		return nil, exprErrorf("The template function '%s' is not valid. Please see https://aka.ms/arm-functions for usage details.", n.name)
	}
	if c.where == inUserFunction {
		return nil, exprErrorf("The template function '%s' is not expected at this location: a user-defined function cannot call another user-defined function.", n.name)
	}
	if err := checkArity(n.name, len(n.args), len(uf.params), len(uf.params)); err != nil {
		return nil, err
	}
	args := make(map[string]any, len(uf.params))
	for i, p := range uf.params {
		v, err := c.evalExpr(n.args[i])
		if err != nil {
			return nil, err
		}
		if !typeMatches(p.typ, v) {
			return nil, exprErrorf("The template function '%s' expects its parameter '%s' to be of type '%s'. The provided value is of type '%s'.", uf.name, p.name, p.typ, kindOf(v))
		}
		args[strings.ToLower(p.name)] = v
	}
	inner := &evalCtx{ev: c.ev, where: inUserFunction, fnArgs: args}
	ov, _ := lookupKey(uf.output, "value")
	v, _, err := inner.evalTree(ov, uf.path+".output.value")
	if err != nil {
		var pe *pathError
		if errors.As(err, &pe) {
			return nil, pe.err
		}
		return nil, err
	}
	ot, _ := lookupKey(uf.output, "type")
	if typ := ot.(string); !typeMatches(typ, v) {
		return nil, exprErrorf("The template function '%s' output is not valid: Template output JToken type is not valid. Expected '%s'. Actual '%s'.", uf.name, paramTypes[strings.ToLower(typ)], kindOf(v))
	}
	return v, nil
}
