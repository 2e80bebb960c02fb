package prefect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors matched with errors.Is against an *APIError.
var (
	ErrNotFound     = errors.New("not found")
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
	ErrConflict     = errors.New("conflict")
)

// APIError is a non-success answer from the Prefect API.
type APIError struct {
	StatusCode int
	// Detail is the server's explanation, taken from its JSON error body.
	Detail string
	// Method and Route name the call (the route is relative to the API URL).
	Method, Route string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("prefect API %s %s: %d %s", e.Method, e.Route, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is makes errors.Is(err, ErrNotFound) and friends work.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	}
	return false
}

const maxDetail = 2048

// errorDetail extracts the human part of a Prefect error body. Validation
// errors keep only each error's location and message: Prefect echoes the
// request body and the offending input, which may hold secrets (a block
// document's client_secret, for one).
func errorDetail(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return truncate(string(body))
	}
	var parts []string
	for _, key := range []string{"detail", "exception_message"} {
		raw, ok := m[key]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			parts = append(parts, s)
			continue
		}
		parts = append(parts, validationSummary(raw))
	}
	if raw, ok := m["exception_detail"]; ok {
		parts = append(parts, validationSummary(raw))
	}
	if len(parts) == 0 {
		return truncate(string(body))
	}
	return truncate(strings.Join(nonEmpty(parts), ": "))
}

// validationSummary renders FastAPI/pydantic error lists as "loc: msg; ...".
func validationSummary(raw json.RawMessage) string {
	var items []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(raw, &items) != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return "(unparsed error detail)"
	}
	var out []string
	for _, it := range items {
		loc := make([]string, len(it.Loc))
		for i, l := range it.Loc {
			loc[i] = fmt.Sprint(l)
		}
		out = append(out, strings.Join(loc, ".")+": "+it.Msg)
	}
	return strings.Join(out, "; ")
}

func nonEmpty(in []string) []string {
	out := in[:0]
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func truncate(s string) string {
	if len(s) > maxDetail {
		return s[:maxDetail] + "...(truncated)"
	}
	return s
}
