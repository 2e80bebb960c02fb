package emulator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// tokenStore remembers issued access tokens. Tokens are opaque random
// strings, as the SDK treats them; only their expiry matters.
type tokenStore struct {
	mu       sync.Mutex
	tokens   map[string]issuedToken
	lifetime time.Duration // overrides Config.TokenLifetime when non-zero
	issued   int
}

type issuedToken struct {
	tenant  string
	client  string
	expires time.Time
}

func (s *tokenStore) init() { s.tokens = map[string]issuedToken{} }

func (s *tokenStore) issue(tenant, client string, lifetime time.Duration) (string, time.Duration) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := "emu." + base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lifetime != 0 {
		lifetime = s.lifetime
	}
	now := time.Now()
	s.issued++
	if s.issued%1024 == 0 {
		for k, t := range s.tokens {
			if now.After(t.expires.Add(time.Hour)) {
				delete(s.tokens, k)
			}
		}
	}
	s.tokens[tok] = issuedToken{tenant: tenant, client: client, expires: now.Add(lifetime)}
	return tok, lifetime
}

func (s *tokenStore) lookup(tok string) (issuedToken, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[tok]
	return t, ok
}

// SetTokenLifetime changes the lifetime of tokens issued from now on (e.g. a
// few seconds to test refresh); 0 restores Config.TokenLifetime.
func (e *Emulator) SetTokenLifetime(d time.Duration) {
	e.tokens.mu.Lock()
	defer e.tokens.mu.Unlock()
	e.tokens.lifetime = d
}

// entraError writes Entra ID's OAuth error shape.
func (e *Emulator) entraError(w http.ResponseWriter, status int, errCode string, aadsts int, msg string) {
	now := time.Now().UTC()
	trace, corr := newGUID(), w.Header().Get("x-ms-correlation-request-id")
	desc := fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, msg, trace, corr, now.Format("2006-01-02 15:04:05Z"))
	writeJSON(w, status, map[string]any{
		"error":             errCode,
		"error_description": desc,
		"error_codes":       []int{aadsts},
		"timestamp":         now.Format("2006-01-02 15:04:05Z"),
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("%s/error?code=%d", e.baseFromHost(""), aadsts),
	})
}

func (e *Emulator) baseFromHost(host string) string {
	if host == "" {
		return e.url
	}
	return "https://" + host
}

func (e *Emulator) serveEntra(w http.ResponseWriter, r *http.Request, rt route) {
	if f := e.faults.take(rt.op); f != nil {
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprintf("%d", int(f.RetryAfter.Seconds()+0.999)))
		}
		e.entraError(w, f.Status, f.Code, 50000, f.Message)
		return
	}
	switch rt.op {
	case "instanceDiscovery":
		e.serveInstanceDiscovery(w, r)
	case "openidConfiguration":
		e.serveOpenIDConfiguration(w, r, rt)
	case "token":
		e.serveToken(w, r, rt)
	}
}

func (e *Emulator) knownTenant(t string) bool { return eq(t, e.cfg.TenantID) }

func (e *Emulator) tenantNotFound(w http.ResponseWriter, tenant string) {
	e.entraError(w, http.StatusBadRequest, "invalid_tenant", 90002,
		fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
}

func (e *Emulator) serveOpenIDConfiguration(w http.ResponseWriter, r *http.Request, rt route) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		e.entraError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts GET requests.")
		return
	}
	if !e.knownTenant(rt.tenant) {
		e.tenantNotFound(w, rt.tenant)
		return
	}
	base := e.baseFromHost(r.Host) + "/" + e.cfg.TenantID
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/v2.0",
		"request_uri_parameter_supported":       false,
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"tenant_region_scope":                   "NA",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

// serveInstanceDiscovery answers MSAL's instance discovery for whatever
// authority it asks about, so clients that keep discovery on still work
// when their transport routes the discovery host to the emulator.
func (e *Emulator) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ae := q.Get("authorization_endpoint")
	u, err := url.Parse(ae)
	if ae == "" || err != nil || u.Host == "" || u.Scheme != "https" {
		e.entraError(w, http.StatusBadRequest, "invalid_instance", 50049, fmt.Sprintf("Unknown or invalid instance: authorization_endpoint '%s'.", ae))
		return
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	tenant := parts[0]
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": fmt.Sprintf("https://%s/%s/v2.0/.well-known/openid-configuration", u.Host, tenant),
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": u.Host,
			"preferred_cache":   u.Host,
			"aliases":           []string{u.Host},
		}},
	})
}

// armAudiences are the resources a token can be asked for; both public ARM
// audiences work, and so does the emulator's own origin.
func (e *Emulator) validAudience(res string) bool {
	res = strings.TrimRight(strings.ToLower(res), "/")
	switch res {
	case "https://management.core.windows.net", "https://management.azure.com":
		return true
	}
	u, err := url.Parse(res)
	if err != nil || u.Scheme != "https" {
		return false
	}
	for _, n := range e.cfg.TLSNames {
		if eq(u.Hostname(), n) {
			return true
		}
	}
	return false
}

func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request, rt route) {
	if r.Method != http.MethodPost {
		e.entraError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST, OPTIONS requests. Received a "+r.Method+" request.")
		return
	}
	if !e.knownTenant(rt.tenant) {
		e.tenantNotFound(w, rt.tenant)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		e.entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must be a valid application/x-www-form-urlencoded form.")
		return
	}
	f := r.PostForm
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	grant := f.Get("grant_type")
	switch {
	case grant == "":
		e.entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	case grant != "client_credentials":
		e.entraError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", grant))
		return
	case clientID == "":
		e.entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	case !eq(clientID, e.cfg.ClientID):
		e.entraError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, e.cfg.TenantID))
		return
	case secret == "" && f.Get("client_assertion") != "":
		e.entraError(w, http.StatusUnauthorized, "invalid_client", 700027, "The certificate with identifier used to sign the client assertion is not registered on application. This emulator accepts client secrets only.")
		return
	case secret == "":
		e.entraError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	case subtle.ConstantTimeCompare([]byte(secret), []byte(e.cfg.ClientSecret)) != 1:
		e.entraError(w, http.StatusUnauthorized, "invalid_client", 7000215,
			fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", e.cfg.ClientID))
		return
	}
	scope := f.Get("scope")
	var resource string
	for _, s := range strings.Fields(scope) {
		switch s {
		case "openid", "offline_access", "profile", "email":
			continue
		}
		if !strings.HasSuffix(s, "/.default") || resource != "" {
			e.entraError(w, http.StatusBadRequest, "invalid_scope", 70011,
				fmt.Sprintf("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", scope))
			return
		}
		resource = strings.TrimSuffix(s, ".default")
	}
	if resource == "" {
		e.entraError(w, http.StatusBadRequest, "invalid_scope", 70011,
			fmt.Sprintf("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope '%s' does not name a resource with a '/.default' suffix.", scope))
		return
	}
	if !e.validAudience(resource) {
		e.entraError(w, http.StatusBadRequest, "invalid_resource", 500011,
			fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", strings.TrimSuffix(resource, "/"), e.cfg.TenantID))
		return
	}
	tok, life := e.tokens.issue(e.cfg.TenantID, e.cfg.ClientID, e.cfg.TokenLifetime)
	secs := int(life / time.Second)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   tok,
	})
}

// authenticate checks an ARM request's bearer token the way ARM does.
func (e *Emulator) authenticate(r *http.Request) *apiError {
	authz := r.Header.Get("Authorization")
	challenge := func(desc string) http.Header {
		return http.Header{"WWW-Authenticate": []string{fmt.Sprintf(
			`Bearer authorization_uri="%s/%s", error="invalid_token", error_description="%s"`,
			e.baseFromHost(r.Host), e.cfg.TenantID, desc)}}
	}
	if authz == "" {
		a := newErr(http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
		a.Header = challenge("The authentication failed because of missing 'Authorization' header.")
		return a
	}
	scheme, tok, ok := strings.Cut(authz, " ")
	if !ok || !eq(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		a := newErr(http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is provided in an invalid format.")
		a.Header = challenge("The authentication failed because of invalid 'Authorization' header format.")
		return a
	}
	t, found := e.tokens.lookup(strings.TrimSpace(tok))
	if !found {
		a := newErr(http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid.")
		a.Header = challenge("The access token is invalid or was not issued by this authority.")
		return a
	}
	if now := time.Now(); !now.Before(t.expires) {
		const f = "1/2/2006 3:04:05 PM"
		a := newErr(http.StatusUnauthorized, "ExpiredAuthenticationToken",
			"The access token expiry UTC time '%s' is earlier than current UTC time '%s'.", t.expires.UTC().Format(f), now.UTC().Format(f))
		a.Header = challenge("The access token has expired.")
		return a
	}
	return nil
}
