package emulator

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/aciworker/aciworker/emulator/armtemplate"
)

// apiError is an ARM error response: the HTTP status and the "error" member
// of {"error":{"code","message","target","details","additionalInfo"}}.
type apiError struct {
	Status         int                          `json:"-"`
	Code           string                       `json:"code"`
	Message        string                       `json:"message"`
	Target         string                       `json:"target,omitempty"`
	Details        []*apiError                  `json:"details,omitempty"`
	AdditionalInfo []armtemplate.AdditionalInfo `json:"additionalInfo,omitempty"`
	// RetryAfter, when positive, is sent as Retry-After (whole seconds).
	RetryAfter time.Duration `json:"-"`
	// Header holds extra response headers (e.g. WWW-Authenticate).
	Header http.Header `json:"-"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newErr(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) *apiError {
	return newErr(http.StatusBadRequest, code, format, args...)
}

// fromTemplateError converts an armtemplate error, keeping its nesting.
func fromTemplateError(status int, te *armtemplate.Error) *apiError {
	e := &apiError{Status: status, Code: te.Code, Message: te.Message, Target: te.Target, AdditionalInfo: te.AdditionalInfo}
	for i := range te.Details {
		e.Details = append(e.Details, fromTemplateError(status, &te.Details[i]))
	}
	return e
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v == nil {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	for k, vs := range e.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	h.Set("x-ms-error-code", e.Code)
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	writeJSON(w, e.Status, map[string]any{"error": e})
}
