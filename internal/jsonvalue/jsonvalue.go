// Package jsonvalue holds helpers for decoded JSON values (map[string]any,
// []any and scalars), shared by the packages that edit templates.
package jsonvalue

// Copy returns a deep copy of a decoded JSON value, so that code editing a
// template never changes its caller's. Scalars are immutable and shared;
// a nil map or list becomes an empty one.
func Copy[T any](v T) T {
	// A nil interface value copies to nil; the assertion would panic on it.
	c, _ := copyAny(v).(T)
	return c
}

func copyAny(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = copyAny(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = copyAny(e)
		}
		return s
	default:
		return v
	}
}
