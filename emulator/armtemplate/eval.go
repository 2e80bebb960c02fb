package armtemplate

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// exprError is a failure inside expression evaluation; the caller that
// knows which template element was being evaluated turns it into an
// *Error with that context. An *Error met on the way up is already final
// (e.g. a parameter default that failed while a variable referenced it).
type exprError struct{ msg string }

func (e *exprError) Error() string { return e.msg }

func exprErrorf(format string, args ...any) error {
	return &exprError{msg: fmt.Sprintf(format, args...)}
}

// evalBudget bounds the data one deployment's expressions may construct
// (in bytes of JSON, counted as trees). Without it a short template could
// build exponentially large values (replace() doubling, variables that
// reference each other twice) and hang the emulator.
const evalBudget = 64 << 20

// location tells builtins where an expression sits, because ARM allows
// some functions only in some places.
type location int

const (
	inParameterDefault location = iota
	inVariable
	inResource
	inOutput
	inUserFunction
)

type evalCtx struct {
	ev    *evaluator
	where location
	// fnArgs holds a user-defined function's arguments, keyed by lower-case
	// name; parameters() reads them there instead of template parameters.
	fnArgs map[string]any
}

func (c *evalCtx) evalExpr(e Expr) (any, error) {
	switch n := e.(type) {
	case stringLit:
		return n.val, nil
	case intLit:
		return intNumber(n.val), nil
	case *call:
		return c.evalCall(n)
	case *property:
		x, err := c.evalExpr(n.x)
		if err != nil {
			return nil, err
		}
		return accessProperty(x, n.name)
	case *index:
		x, err := c.evalExpr(n.x)
		if err != nil {
			return nil, err
		}
		i, err := c.evalExpr(n.idx)
		if err != nil {
			return nil, err
		}
		return accessIndex(x, i)
	}
	return nil, exprErrorf("unknown expression node %T", e)
}

func accessProperty(x any, name string) (any, error) {
	m, ok := x.(map[string]any)
	if !ok {
		return nil, exprErrorf("The language expression property '%s' can't be evaluated because the value is of type '%s'; property access needs an object.", name, kindOf(x))
	}
	v, found := lookupKey(m, name)
	if !found {
		return nil, exprErrorf("The language expression property '%s' doesn't exist, available properties are '%s'.", name, strings.Join(sortedKeys(m), ", "))
	}
	return v, nil
}

func accessIndex(x, i any) (any, error) {
	switch c := x.(type) {
	case []any:
		n, ok := asInt(i)
		if !ok {
			return nil, exprErrorf("The language expression array index '%s' is not valid: an array index must be an integer, not a value of type '%s'.", toText(i), kindOf(i))
		}
		if n < 0 || n >= int64(len(c)) {
			return nil, exprErrorf("The language expression property array index '%d' is out of bounds.", n)
		}
		return c[n], nil
	case map[string]any:
		s, ok := i.(string)
		if !ok {
			return nil, exprErrorf("The language expression property name must be a string to index an object, not a value of type '%s'.", kindOf(i))
		}
		return accessProperty(c, s)
	}
	return nil, exprErrorf("The language expression property '%s' can't be evaluated because the value is of type '%s'; indexing needs an array or an object.", toText(i), kindOf(x))
}

func (c *evalCtx) evalCall(n *call) (any, error) {
	lname := strings.ToLower(n.name)
	if strings.Contains(lname, ".") {
		return c.callUser(n, lname)
	}
	b, ok := builtins[lname]
	if !ok {
		return nil, exprErrorf("The template function '%s' is not valid. Please see https://aka.ms/arm-functions for usage details.", n.name)
	}
	if b.unsupported != "" {
		return nil, exprErrorf("The template function '%s' is not supported by this emulator: %s.", n.name, b.unsupported)
	}
	if err := checkArity(n.name, len(n.args), b.min, b.max); err != nil {
		return nil, err
	}
	var (
		v   any
		err error
	)
	if b.lazy != nil {
		v, err = b.lazy(c, n.name, n.args)
	} else {
		args := make([]any, len(n.args))
		for i, a := range n.args {
			if args[i], err = c.evalExpr(a); err != nil {
				return nil, err
			}
		}
		v, err = b.fn(c, n.name, args)
	}
	if err != nil {
		return nil, err
	}
	if !b.free {
		if err := c.ev.charge(v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func checkArity(name string, got, lo, hi int) error {
	if got >= lo && (hi < 0 || got <= hi) {
		return nil
	}
	var want string
	switch {
	case lo == hi:
		want = fmt.Sprintf("exactly %d parameter(s)", lo)
	case hi < 0:
		want = fmt.Sprintf("at least %d parameter(s)", lo)
	default:
		want = fmt.Sprintf("between %d and %d parameters", lo, hi)
	}
	return exprErrorf("The template language function '%s' must have %s, but %d were provided. Please see https://aka.ms/arm-functions for usage details.", name, want, got)
}

// charge counts a constructed value against the evaluation budget.
func (ev *evaluator) charge(v any) error {
	remaining := int64(evalBudget) - ev.spent
	s := sizeOf(v, remaining)
	ev.spent += s
	if ev.spent > evalBudget {
		return exprErrorf("The template language expressions construct more than %d MiB of data, which exceeds the evaluation limit.", evalBudget>>20)
	}
	return nil
}

// sizeOf is the JSON-ish size of v counted as a tree, stopping once it
// exceeds limit so that shared substructure cannot make it slow.
func sizeOf(v any, limit int64) int64 {
	switch x := v.(type) {
	case string:
		return int64(len(x)) + 2
	case json.Number:
		return int64(len(x))
	case []any:
		var s int64 = 2
		for _, e := range x {
			s += sizeOf(e, limit-s) + 1
			if s > limit {
				return s
			}
		}
		return s
	case map[string]any:
		var s int64 = 2
		for k, e := range x {
			s += int64(len(k)) + 4 + sizeOf(e, limit-s)
			if s > limit {
				return s
			}
		}
		return s
	}
	return 4
}

// evalString evaluates one template string value.
func (c *evalCtx) evalString(s string) (any, error) {
	e, err := ParseExpression(s)
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return nil, &exprError{msg: ae.Message}
		}
		return nil, err
	}
	return c.evalExpr(e)
}

// evalTree evaluates every string in a JSON tree (object keys stay
// literal). Expression results that are null remove the member from its
// object, which is how ARM treats null properties. path is the template
// path of v, used in error reports.
func (c *evalCtx) evalTree(v any, path string) (res any, remove bool, err error) {
	switch x := v.(type) {
	case string:
		r, err := c.evalString(x)
		if err != nil {
			return nil, false, withPath(err, path)
		}
		return r, r == nil && IsExpression(x), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, _, err := c.evalTree(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, false, err
			}
			out[i] = r
		}
		return out, false, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for _, k := range sortedKeys(x) {
			r, drop, err := c.evalTree(x[k], joinPath(path, k))
			if err != nil {
				return nil, false, err
			}
			if !drop {
				out[k] = r
			}
		}
		return out, false, nil
	}
	return v, false, nil
}

// pathError remembers the deepest template path at which an expression
// failed.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

func withPath(err error, path string) error {
	var pe *pathError
	var ae *Error
	if errors.As(err, &pe) || errors.As(err, &ae) {
		return err
	}
	return &pathError{path: path, err: err}
}

func joinPath(base, key string) string {
	simple := key != ""
	for i := 0; i < len(key); i++ {
		ch := key[i]
		if !(isIdentStart(ch) || isDigit(ch) || ch == '-') {
			simple = false
			break
		}
	}
	if !simple {
		return base + "['" + key + "']"
	}
	if base == "" {
		return key
	}
	return base + "." + key
}

// EvalString evaluates one template string (expression or literal) in a
// scope with no template parameters or variables. It serves tests and
// fuzzing; deployments use Evaluate.
func EvalString(s string, scope Scope) (any, error) {
	ev := newEvaluator(scope)
	c := &evalCtx{ev: ev, where: inResource}
	v, err := c.evalString(s)
	if err != nil {
		return nil, ev.finalize(err, "template expression", "")
	}
	return v, nil
}

// finalize turns an evaluation error into the *Error ARM reports,
// describing the template element (what) being evaluated.
func (ev *evaluator) finalize(err error, what, path string) error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var pe *pathError
	if errors.As(err, &pe) {
		path = pe.path
	}
	msg := err.Error()
	return validationFailed(fmt.Sprintf("The %s is not valid: %s Please see https://aka.ms/arm-template-expressions for usage details", what, msg), path, "")
}

// stringArg returns argument i as a string or a typed error naming the
// function.
func stringArg(fn string, args []any, i int) (string, error) {
	s, ok := args[i].(string)
	if !ok {
		return "", argTypeError(fn, i, "String", args[i])
	}
	return s, nil
}

func intArg(fn string, args []any, i int) (int64, error) {
	n, ok := asInt(args[i])
	if !ok {
		return 0, argTypeError(fn, i, "Integer", args[i])
	}
	return n, nil
}

func boolArg(fn string, args []any, i int) (bool, error) {
	b, ok := args[i].(bool)
	if !ok {
		return false, argTypeError(fn, i, "Boolean", args[i])
	}
	return b, nil
}

func argTypeError(fn string, i int, want string, got any) error {
	return exprErrorf("The template language function '%s' expects its %s parameter to be of type '%s'. The provided value is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", fn, ordinal(i), want, kindOf(got))
}

func ordinal(i int) string {
	names := []string{"first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"}
	if i < len(names) {
		return names[i]
	}
	return strconv.Itoa(i+1) + "th"
}
