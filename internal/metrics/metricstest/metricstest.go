// Package metricstest reads metrics back in tests.
package metricstest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Scrape serves GET /metrics from h and returns its samples as
// "name{labels}" -> value, spelled as the text exposition spells them.
func Scrape(t testing.TB, h http.Handler) map[string]string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	return Parse(rec.Body.String())
}

// Parse reads a text exposition into "name{labels}" -> value.
func Parse(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			out[line[:i]] = line[i+1:]
		}
	}
	return out
}
