// Package prefect is a typed client for the Prefect 3 REST API: the calls a
// worker makes (work pools, heartbeats, scheduled runs, flow-run states,
// deployments, blocks, variables, logs, events) plus the few a test harness
// or benchmark needs to set a server up (flows, deployments, flow runs,
// block documents, variables).
//
// It mirrors Prefect's own Python client where behaviour is observable:
// the same auth headers, URL handling that keeps Prefect Cloud's
// account/workspace prefix, and the same retry policy (408, 429, 502, 503
// and connection errors once the server has answered at least once;
// Retry-After honoured, else 2^n s with ±20 % jitter; 5 retries), with one
// deliberate difference: 500 is also retried for idempotent calls (reads,
// filters, PATCHes, heartbeats, set_state with its reused transition id),
// because a SQLite-backed server answers 500 "database is locked" under
// load and a worker must ride that out. Creations are not retried on 500.
package prefect

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aciworker/aciworker/internal/buildinfo"
)

// APIVersion is the Prefect REST API version this client speaks; the
// server uses it to pick modern orchestration behaviour.
const APIVersion = "0.8.4"

// Config holds everything needed to reach a Prefect API.
type Config struct {
	// APIURL is PREFECT_API_URL, e.g. http://127.0.0.1:4200/api or
	// https://api.prefect.cloud/api/accounts/A/workspaces/W.
	APIURL string
	// APIKey is sent as a Bearer token (Prefect Cloud) unless AuthString is set.
	APIKey string
	// AuthString ("user:pass") is sent as HTTP Basic auth (self-hosted servers
	// with PREFECT_SERVER_API_AUTH_STRING). It wins over APIKey, as in Prefect.
	AuthString string
	// CustomHeaders are added to every request (PREFECT_CLIENT_CUSTOM_HEADERS).
	// They cannot replace User-Agent or the CSRF headers.
	CustomHeaders map[string]string
	// InsecureSkipVerify disables TLS verification (PREFECT_API_TLS_INSECURE_SKIP_VERIFY).
	InsecureSkipVerify bool
	// CACertFile replaces the system roots with the certificates in this PEM
	// file (PREFECT_API_SSL_CERT_FILE), as Prefect's Python client does.
	CACertFile string
	// HTTPClient, when set, is used as is: the TLS fields above are then the
	// caller's business.
	HTTPClient *http.Client
	// WrapTransport, when set, wraps the transport every request goes
	// through (HTTPClient's, or the one built from the TLS fields): a hook
	// for the caller's request metrics.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// MaxRetries bounds retries of one call (attempts = MaxRetries+1).
	// 0 means the default of 5 (PREFECT_CLIENT_MAX_RETRIES); negative disables retries.
	MaxRetries int
	// RetryBaseDelay is the unit of the exponential backoff: retry n waits
	// about RetryBaseDelay*2^n (±20 %). 0 means 1 s, which gives Prefect's 2, 4, 8, 16, 32 s.
	RetryBaseDelay time.Duration
	// MaxRetryDelay caps any single wait, Retry-After included. 0 means 60 s.
	MaxRetryDelay time.Duration
	// RequestTimeout bounds one HTTP attempt (PREFECT_API_REQUEST_TIMEOUT). 0 means 60 s.
	RequestTimeout time.Duration
	// RetryExtraCodes are further status codes to retry (PREFECT_CLIENT_RETRY_EXTRA_CODES).
	RetryExtraCodes []int
	// DisableCSRF turns off fetching CSRF tokens (PREFECT_CLIENT_CSRF_SUPPORT_ENABLED=false).
	DisableCSRF bool
	// UserAgent defaults to "aciworker/VERSION" (the module version the
	// binary was built from, "dev" when unknown). It deliberately does not look
	// like "prefect/x.y.z", which the server would parse as a client version.
	UserAgent string
	// CloudAPIURL is Prefect Cloud's API URL (PREFECT_CLOUD_API_URL); an
	// APIURL under it is Prefect Cloud, as Prefect's determine_server_type
	// decides. "" means https://api.prefect.cloud/api.
	CloudAPIURL string
	// Logger receives debug records about retries; nil discards them.
	Logger *slog.Logger

	// envErrs are malformed settings found by ConfigFromEnv, reported by New.
	envErrs []error
}

// ConfigFromEnv reads Prefect's client settings from environment variables.
// Malformed values are ignored here and reported by New where they matter.
func ConfigFromEnv(getenv func(string) string) Config {
	cfg := Config{
		APIURL:     strings.TrimSpace(getenv("PREFECT_API_URL")),
		APIKey:     getenv("PREFECT_API_KEY"),
		AuthString: getenv("PREFECT_API_AUTH_STRING"),
		CACertFile: getenv("PREFECT_API_SSL_CERT_FILE"),

		CloudAPIURL: strings.TrimSpace(getenv("PREFECT_CLOUD_API_URL")),
	}
	cfg.InsecureSkipVerify = envBool(getenv("PREFECT_API_TLS_INSECURE_SKIP_VERIFY"))
	if v := strings.TrimSpace(getenv("PREFECT_CLIENT_CUSTOM_HEADERS")); v != "" {
		var h map[string]string
		if json.Unmarshal([]byte(v), &h) == nil {
			cfg.CustomHeaders = h
		} else {
			// The value is not quoted back: custom headers often carry credentials.
			cfg.envErrs = append(cfg.envErrs, errors.New("PREFECT_CLIENT_CUSTOM_HEADERS: must be a JSON object whose values are strings"))
		}
	}
	if v := strings.TrimSpace(getenv("PREFECT_CLIENT_MAX_RETRIES")); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			cfg.MaxRetries = n
			if n == 0 {
				cfg.MaxRetries = -1
			}
		} else {
			cfg.envErrs = append(cfg.envErrs, fmt.Errorf("PREFECT_CLIENT_MAX_RETRIES: %q is not an integer", v))
		}
	}
	if v := strings.TrimSpace(getenv("PREFECT_API_REQUEST_TIMEOUT")); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			cfg.RequestTimeout = time.Duration(f * float64(time.Second))
		}
	}
	if v := strings.TrimSpace(getenv("PREFECT_CLIENT_RETRY_EXTRA_CODES")); v != "" {
		for _, part := range strings.Split(strings.Trim(v, "[]{}()"), ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(part)); err == nil {
				cfg.RetryExtraCodes = append(cfg.RetryExtraCodes, n)
			}
		}
	}
	if v := strings.TrimSpace(getenv("PREFECT_CLIENT_CSRF_SUPPORT_ENABLED")); v != "" && !envBool(v) {
		cfg.DisableCSRF = true
	}
	return cfg
}

func defaultUserAgent() string { return buildinfo.Get().UserAgent() }

func envBool(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on", "t", "y":
		return true
	}
	return false
}
