package prefect

import (
	"bytes"
	"cmp"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aciworker/aciworker/internal/backoff"
)

const (
	defaultMaxRetries     = 5
	defaultRetryBaseDelay = time.Second
	defaultMaxRetryDelay  = 60 * time.Second
	defaultRequestTimeout = 60 * time.Second
	jitterFactor          = 0.2
	// maxMaintenanceWaits bounds how long a server in maintenance mode is
	// waited for: those answers do not consume retries, as in Prefect.
	maxMaintenanceWaits = 30
	maxResponseBytes    = 256 << 20
	cloudAPIPrefix      = "https://api.prefect.cloud/"
	defaultCloudAPIURL  = "https://api.prefect.cloud/api"
)

// Client talks to one Prefect API. It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
	auth string
	// streamToken is what the event stream's auth message carries: the
	// auth string of a self-hosted server, else the API key.
	streamToken string
	custom      map[string]string
	userAgent   string
	secrets     []string
	log         *slog.Logger
	maxRetries  int
	baseDelay   time.Duration
	maxDelay    time.Duration
	timeout     time.Duration
	extraCodes  map[int]bool

	// connected turns on retrying of connection errors: like Prefect, a
	// wrong URL fails fast at startup instead of backing off for a minute.
	connected atomic.Bool

	csrfMu       sync.Mutex
	csrfDisabled bool
	csrfClient   string
	cloud        bool // the API is Prefect Cloud's
	csrfToken    string
	csrfExpires  time.Time

	// Test hooks.
	sleep  func(ctx context.Context, d time.Duration) error
	random func() float64
}

// New validates cfg and returns a client. It does not contact the server.
func New(cfg Config) (*Client, error) {
	if len(cfg.envErrs) > 0 {
		return nil, fmt.Errorf("prefect client: %w", errors.Join(cfg.envErrs...))
	}
	if cfg.APIURL == "" {
		return nil, errors.New("prefect client: APIURL (PREFECT_API_URL) is empty")
	}
	u, err := url.Parse(cfg.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		shown := cfg.APIURL
		if err == nil {
			shown = u.Redacted()
		}
		return nil, fmt.Errorf("prefect client: APIURL (PREFECT_API_URL) %q is not an http(s) URL", shown)
	}
	if strings.ContainsAny(cfg.AuthString, "\r\n") {
		return nil, errors.New("prefect client: AuthString (PREFECT_API_AUTH_STRING) contains a line break")
	}
	if strings.ContainsAny(cfg.APIKey, "\r\n") {
		return nil, errors.New("prefect client: APIKey (PREFECT_API_KEY) contains a line break")
	}
	c := &Client{
		base:       strings.TrimRight(cfg.APIURL, "/"),
		hc:         cfg.HTTPClient,
		custom:     map[string]string{},
		userAgent:  cfg.UserAgent,
		log:        cfg.Logger,
		maxRetries: cfg.MaxRetries,
		baseDelay:  cfg.RetryBaseDelay,
		maxDelay:   cfg.MaxRetryDelay,
		timeout:    cfg.RequestTimeout,
		extraCodes: map[int]bool{},
		sleep:      func(ctx context.Context, d time.Duration) error { return backoff.Sleep(ctx, nil, d) },
		random:     rand.Float64,
	}
	c.streamToken = cmp.Or(cfg.AuthString, cfg.APIKey)
	switch {
	case cfg.AuthString != "":
		c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.AuthString))
		c.secrets = append(c.secrets, cfg.AuthString, c.auth)
	case cfg.APIKey != "":
		c.auth = "Bearer " + cfg.APIKey
	}
	if cfg.APIKey != "" {
		c.secrets = append(c.secrets, cfg.APIKey)
	}
	for k, v := range cfg.CustomHeaders {
		if strings.ContainsAny(k+v, "\r\n") {
			return nil, fmt.Errorf("prefect client: custom header %q contains a line break", k)
		}
		c.custom[k] = v
		if len(v) >= 4 {
			c.secrets = append(c.secrets, v)
		}
	}
	if c.userAgent == "" {
		c.userAgent = defaultUserAgent()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = defaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.baseDelay <= 0 {
		c.baseDelay = defaultRetryBaseDelay
	}
	if c.maxDelay <= 0 {
		c.maxDelay = defaultMaxRetryDelay
	}
	if c.timeout <= 0 {
		c.timeout = defaultRequestTimeout
	}
	for _, code := range cfg.RetryExtraCodes {
		c.extraCodes[code] = true
	}
	c.csrfDisabled = cfg.DisableCSRF || strings.HasPrefix(c.base, cloudAPIPrefix)
	cloud := cfg.CloudAPIURL
	if cloud == "" {
		cloud = defaultCloudAPIURL
	}
	c.cloud = strings.HasPrefix(c.base, strings.TrimRight(cloud, "/"))
	c.csrfClient = newUUID()
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
		if cfg.InsecureSkipVerify || cfg.CACertFile != "" {
			tc := &tls.Config{MinVersion: tls.VersionTLS12}
			if cfg.InsecureSkipVerify {
				tc.InsecureSkipVerify = true
			}
			if cfg.CACertFile != "" {
				pem, err := os.ReadFile(cfg.CACertFile)
				if err != nil {
					return nil, fmt.Errorf("prefect client: CACertFile (PREFECT_API_SSL_CERT_FILE): %w", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("prefect client: CACertFile (PREFECT_API_SSL_CERT_FILE) %q holds no PEM certificate", cfg.CACertFile)
				}
				tc.RootCAs = pool
			}
			tr.TLSClientConfig = tc
		}
		c.hc = &http.Client{Transport: tr}
	}
	if cfg.WrapTransport != nil {
		hc := *c.hc // the caller's client stays as it was
		next := hc.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		hc.Transport = cfg.WrapTransport(next)
		c.hc = &hc
	}
	return c, nil
}

// APIURL returns the API URL the client was built with, without a trailing slash.
func (c *Client) APIURL() string { return c.base }

// call describes one API call.
type call struct {
	method string
	route  string // relative to the API URL, path parameters already escaped
	query  url.Values
	body   any
	out    any
	// idempotent calls are also retried on 500: the SQLite-backed server
	// answers 500 "database is locked" under load, and repeating a read, a
	// PATCH or a set_state carrying the same transition_id is harmless.
	// Creations are not retried on 500, as in Prefect, since the first
	// attempt may have been committed.
	idempotent bool
}

func (c *Client) do(ctx context.Context, cl call) error {
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return fmt.Errorf("prefect API %s %s: encode request: %w", cl.method, cl.route, err)
		}
	}
	mutating := cl.method != http.MethodGet && cl.method != http.MethodHead
	retries, maintenance := 0, 0
	csrfRefreshed := false
	for {
		if mutating {
			if err := c.ensureCSRF(ctx); err != nil {
				return err
			}
		}
		status, header, body, err := c.send(ctx, cl, payload, mutating)
		var delay time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return fmt.Errorf("prefect API %s %s: %w", cl.method, cl.route, ctx.Err())
			}
			if !c.connected.Load() || retries >= c.maxRetries {
				return fmt.Errorf("prefect API %s %s: %w", cl.method, cl.route, err)
			}
			delay = c.backoff(retries)
			c.log.Debug("prefect API connection error, retrying", "method", cl.method, "route", cl.route,
				"error", c.redact(err.Error()), "retry", retries+1, "delay", delay)
			retries++
		case status >= 200 && status < 300:
			c.connected.Store(true)
			if raw, ok := cl.out.(*rawBody); ok {
				*raw = bytes.Clone(body)
				return nil
			}
			if cl.out == nil || len(bytes.TrimSpace(body)) == 0 {
				return nil
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			if err := dec.Decode(cl.out); err != nil {
				return fmt.Errorf("prefect API %s %s: decode response: %w", cl.method, cl.route, err)
			}
			return nil
		default:
			c.connected.Store(true)
			apiErr := &APIError{StatusCode: status, Detail: c.redact(errorDetail(body)), Method: cl.method, Route: cl.route}
			if status == http.StatusForbidden && mutating && !csrfRefreshed && bytes.Contains(body, []byte("Invalid CSRF token")) {
				csrfRefreshed = true
				c.clearCSRF()
				continue
			}
			if header.Get("Prefect-Maintenance") == "true" && maintenance < maxMaintenanceWaits {
				maintenance++
				delay = c.backoff(0)
			} else {
				if !c.retryable(status, cl.idempotent) || retries >= c.maxRetries {
					return apiErr
				}
				if d, ok := backoff.ParseRetryAfter(header.Get("Retry-After"), time.Now()); ok {
					delay = d + time.Duration(float64(d)*jitterFactor*c.random())
				} else {
					delay = c.backoff(retries)
				}
				retries++
			}
			c.log.Debug("prefect API error, retrying", "method", cl.method, "route", cl.route,
				"status", status, "retry", retries, "delay", delay)
		}
		delay = min(delay, c.maxDelay)
		if err := c.sleep(ctx, delay); err != nil {
			return fmt.Errorf("prefect API %s %s: %w", cl.method, cl.route, err)
		}
	}
}

// send performs one attempt and reads the whole body within the attempt's deadline.
func (c *Client) send(ctx context.Context, cl call, payload []byte, mutating bool) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.base + "/" + cl.route
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range c.custom {
		req.Header.Set(k, v)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-PREFECT-API-VERSION", APIVersion)
	req.Header.Set("User-Agent", c.userAgent)
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if mutating {
		if tok := c.currentCSRF(); tok != "" {
			req.Header.Set("Prefect-Csrf-Token", tok)
			req.Header.Set("Prefect-Csrf-Client", c.csrfClient)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read response: %w", err)
	}
	return resp.StatusCode, resp.Header, body, nil
}

func (c *Client) retryable(status int, idempotent bool) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable:
		return true
	case http.StatusInternalServerError:
		return idempotent || c.extraCodes[status]
	}
	return c.extraCodes[status]
}

// backoff is Prefect's 2^n with symmetric jitter; retry 0 waits 2 units.
// The client's maximum delay caps it after the jitter, where do applies it.
func (c *Client) backoff(retry int) time.Duration {
	p := backoff.Policy{Initial: 2 * c.baseDelay, Jitter: jitterFactor, SymmetricJitter: true, Rand: c.random}
	return p.Delay(retry)
}

func (c *Client) redact(s string) string {
	for _, sec := range c.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// PrepareWrites gets what the client's first write needs (a CSRF token,
// on servers that use them) ahead of it, so that a caller can overlap it
// with its reads.
func (c *Client) PrepareWrites(ctx context.Context) error { return c.ensureCSRF(ctx) }

// ensureCSRF fetches a CSRF token before a mutating call when the server
// wants one. Servers with protection off (the default) answer 422, old ones
// 404; either turns CSRF handling off for the client's lifetime.
func (c *Client) ensureCSRF(ctx context.Context) error {
	c.csrfMu.Lock()
	defer c.csrfMu.Unlock()
	if c.csrfDisabled || (c.csrfToken != "" && time.Now().Before(c.csrfExpires)) {
		return nil
	}
	var tok struct {
		Token      string    `json:"token"`
		Expiration time.Time `json:"expiration"`
	}
	err := c.do(ctx, call{method: http.MethodGet, route: "csrf-token", query: url.Values{"client": {c.csrfClient}}, out: &tok, idempotent: true})
	var apiErr *APIError
	if errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusUnprocessableEntity || apiErr.StatusCode == http.StatusNotFound) {
		c.csrfDisabled = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("fetch CSRF token: %w", err)
	}
	c.csrfToken, c.csrfExpires = tok.Token, tok.Expiration
	if c.csrfExpires.IsZero() {
		c.csrfExpires = time.Now().Add(time.Hour)
	}
	return nil
}

func (c *Client) currentCSRF() string {
	c.csrfMu.Lock()
	defer c.csrfMu.Unlock()
	if c.csrfDisabled {
		return ""
	}
	return c.csrfToken
}

func (c *Client) clearCSRF() {
	c.csrfMu.Lock()
	c.csrfToken = ""
	c.csrfMu.Unlock()
}

// newUUID returns a random (version 4) UUID string.
func newUUID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails: it panics instead
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
