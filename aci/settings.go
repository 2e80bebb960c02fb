package aci

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/aciworker/aciworker/internal/backoff"
	"github.com/aciworker/aciworker/internal/buildinfo"
)

// Settings say where Azure is and how to authenticate.
type Settings struct {
	// ARMEndpoint is the Resource Manager URL; "" is the Azure public cloud.
	ARMEndpoint string
	// ARMAudience is the token audience for ARMEndpoint; "" picks the
	// matching sovereign cloud's or the public cloud's.
	ARMAudience string
	// AuthorityHost is the Entra ID authority; "" is the cloud's default.
	AuthorityHost string
	// A service principal is used when all three are set, else
	// DefaultAzureCredential.
	TenantID, ClientID, ClientSecret string
	// Transport replaces the SDK's HTTP client (e.g. one trusting the
	// emulator's certificate); nil is an HTTP client like the SDK's whose
	// requests give up on response headers after ResponseHeaderTimeout.
	Transport policy.Transporter
	// ResponseHeaderTimeout bounds the wait for an answer's headers with
	// the default transport; 0 is DefaultResponseHeaderTimeout.
	ResponseHeaderTimeout time.Duration
	// TryTimeout bounds each try of an ARM request, whatever the
	// transport, from when the request's budget lets it go (the wait for
	// a token is not counted); 0 is DefaultTryTimeout.
	TryTimeout time.Duration

	// ReadsPerSecond and WritesPerSecond set the request budget (token
	// buckets of ReadBurst and WriteBurst); 0 uses defaults well under
	// ARM's limits.
	ReadsPerSecond, WritesPerSecond float64
	ReadBurst, WriteBurst           int

	// Retry tuning for the SDK's retry policy; 0 uses the defaults below.
	MaxRetries    int32
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration

	// ApplicationID starts the User-Agent of every Azure request; "" is
	// "aciworker/VERSION" (or the commit when the version is too long for
	// azcore's 24 characters).
	ApplicationID string
	// Policies run on every ARM request attempt, retries included, after
	// the budget: hooks for the caller's metrics, so that this package
	// needs no metrics library.
	Policies []policy.Policy

	// Budget, when set, is the request budget the client spends, shared
	// with every client given the same one (the clients of one
	// subscription); nil gives the client a budget of its own.
	Budget *Budget

	// Clock paces the client's waits (the request budget, throttling,
	// polls); nil is the system clock.
	Clock backoff.Clock
}

// Budget and retry defaults. ARM's token buckets per principal and
// subscription hold 250 reads refilled at 25/s, and 200 writes and 200
// deletes (counted apart) refilled at 10/s each. Refilling at 80% of ARM's
// rates leaves room for other tools over time; the write and delete
// buckets hold as much as ARM's, so that a burst of runs gets its first 200
// deployments at once (the runs of a burst reach their deployment over
// tens of seconds anyway, throttled by the Prefect server), and a 429 from
// a bucket another tool shares pauses every request (Budget.pause).
const (
	DefaultReadsPerSecond  = 20
	DefaultReadBurst       = 200
	DefaultWritesPerSecond = 8
	DefaultWriteBurst      = 200
	DefaultMaxRetries      = 6
	DefaultRetryDelay      = time.Second
	DefaultMaxRetryDelay   = 60 * time.Second
	// ARM answers a request in seconds (long operations answer at once and
	// are polled): a try with no headers after 20 s is a stall, not a slow
	// answer. A try may take longer in all to read a large body (logs).
	DefaultResponseHeaderTimeout = 20 * time.Second
	DefaultTryTimeout            = 45 * time.Second
)

// SettingsFromEnv reads ACIWORKER_ARM_ENDPOINT, ACIWORKER_ARM_AUDIENCE,
// AZURE_AUTHORITY_HOST, AZURE_TENANT_ID, AZURE_CLIENT_ID,
// AZURE_CLIENT_SECRET, ACIWORKER_ARM_READS_PER_SECOND,
// ACIWORKER_ARM_WRITES_PER_SECOND and ACIWORKER_ARM_TRY_TIMEOUT (a Go
// duration such as 45s).
func SettingsFromEnv(getenv func(string) string) Settings {
	s := Settings{
		ARMEndpoint:   strings.TrimSpace(getenv("ACIWORKER_ARM_ENDPOINT")),
		ARMAudience:   strings.TrimSpace(getenv("ACIWORKER_ARM_AUDIENCE")),
		AuthorityHost: strings.TrimSpace(getenv("AZURE_AUTHORITY_HOST")),
		TenantID:      getenv("AZURE_TENANT_ID"),
		ClientID:      getenv("AZURE_CLIENT_ID"),
		ClientSecret:  getenv("AZURE_CLIENT_SECRET"),
	}
	if f, err := strconv.ParseFloat(getenv("ACIWORKER_ARM_READS_PER_SECOND"), 64); err == nil && f > 0 {
		s.ReadsPerSecond = f
	}
	if f, err := strconv.ParseFloat(getenv("ACIWORKER_ARM_WRITES_PER_SECOND"), 64); err == nil && f > 0 {
		s.WritesPerSecond = f
	}
	if d, err := time.ParseDuration(strings.TrimSpace(getenv("ACIWORKER_ARM_TRY_TIMEOUT"))); err == nil && d > 0 {
		s.TryTimeout = d
	}
	return s
}

// Validate checks the endpoint URLs.
func (s Settings) Validate() error {
	for _, f := range []struct{ name, v string }{{"ARM endpoint", s.ARMEndpoint}, {"authority host", s.AuthorityHost}} {
		if f.v == "" {
			continue
		}
		u, err := url.Parse(f.v)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("%s %q must be an https URL", f.name, f.v)
		}
	}
	return nil
}

// Cloud is the SDK cloud configuration for these settings.
func (s Settings) Cloud() cloud.Configuration {
	base := cloud.AzurePublic
	endpoint := strings.TrimRight(s.ARMEndpoint, "/")
	for _, c := range []cloud.Configuration{cloud.AzureChina, cloud.AzureGovernment} {
		if endpoint != "" && strings.EqualFold(strings.TrimRight(c.Services[cloud.ResourceManager].Endpoint, "/"), endpoint) {
			base = c
		}
	}
	arm := base.Services[cloud.ResourceManager]
	if endpoint != "" {
		arm.Endpoint = endpoint
	}
	if s.ARMAudience != "" {
		arm.Audience = s.ARMAudience
	}
	cfg := cloud.Configuration{
		ActiveDirectoryAuthorityHost: base.ActiveDirectoryAuthorityHost,
		Services:                     map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: arm},
	}
	if s.AuthorityHost != "" {
		cfg.ActiveDirectoryAuthorityHost = s.AuthorityHost
		if !strings.HasSuffix(cfg.ActiveDirectoryAuthorityHost, "/") {
			cfg.ActiveDirectoryAuthorityHost += "/"
		}
	}
	return cfg
}

// publicEntraHosts are the authorities MSAL trusts without instance
// discovery; any other host would make it call out to the public cloud.
var publicEntraHosts = []string{
	"login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net",
	"login.microsoftonline.us", "login.partner.microsoftonline.cn", "login.chinacloudapi.cn",
	"login.microsoftonline.de", "login-us.microsoftonline.com", "login.usgovcloudapi.net",
	"login.sovcloud-identity.fr", "login.sovcloud-identity.de", "login.sovcloud-identity.sg",
}

func (s Settings) disableInstanceDiscovery() bool {
	if s.AuthorityHost == "" {
		return false
	}
	u, err := url.Parse(s.AuthorityHost)
	if err != nil {
		return true
	}
	for _, h := range publicEntraHosts {
		if strings.EqualFold(u.Hostname(), h) {
			return false
		}
	}
	return true
}

func (s Settings) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{Cloud: s.Cloud(), Transport: s.transport(), Telemetry: s.telemetry()}
}

// transport is the Transport, else NewTransport's.
func (s Settings) transport() policy.Transporter {
	if s.Transport != nil {
		return s.Transport
	}
	return s.NewTransport()
}

// NewTransport returns an HTTP client like the SDK's default (proxy from
// the environment, TLS 1.2, HTTP/2) that waits for response headers at
// most ResponseHeaderTimeout: the SDK's own has no such limit, and one
// request that never gets an answer would hang its caller. Settings
// without a Transport get a new one for each credential and client; a
// caller that makes many sets Transport to one it keeps, so that they share
// connections.
func (s Settings) NewTransport() *http.Client {
	d := s.ResponseHeaderTimeout
	if d <= 0 {
		d = DefaultResponseHeaderTimeout
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = d
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	t.ForceAttemptHTTP2 = true
	return &http.Client{Transport: t}
}

func (s Settings) tryTimeout() time.Duration {
	if s.TryTimeout > 0 {
		return s.TryTimeout
	}
	return DefaultTryTimeout
}

func (s Settings) telemetry() policy.TelemetryOptions {
	id := s.ApplicationID
	if id == "" {
		id = buildinfo.Get().AzureApplicationID()
	}
	return policy.TelemetryOptions{ApplicationID: id}
}

// Credential returns a service principal credential when TenantID, ClientID
// and ClientSecret are all set, else DefaultAzureCredential. Each call
// builds a new credential with a token cache of its own: keep it and reuse
// it (one per principal) so that tokens are fetched once.
func (s Settings) Credential() (azcore.TokenCredential, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var (
		cred azcore.TokenCredential
		err  error
	)
	if s.TenantID != "" && s.ClientID != "" && s.ClientSecret != "" {
		cred, err = azidentity.NewClientSecretCredential(s.TenantID, s.ClientID, s.ClientSecret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions:            s.clientOptions(),
			DisableInstanceDiscovery: s.disableInstanceDiscovery(),
		})
		if err != nil {
			return nil, fmt.Errorf("service principal credential for client %s: %w", s.ClientID, err)
		}
	} else {
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions:            s.clientOptions(),
			DisableInstanceDiscovery: s.disableInstanceDiscovery(),
			TenantID:                 s.TenantID,
		})
		if err != nil {
			return nil, fmt.Errorf("default Azure credential: %w", err)
		}
	}
	return cred, nil
}
