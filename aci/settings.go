package aci

import (
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

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
	// emulator's certificate); nil keeps the SDK default.
	Transport policy.Transporter

	// ReadsPerSecond and WritesPerSecond set the shared request budget per
	// subscription (token buckets of ReadBurst and WriteBurst); 0 uses
	// defaults well under ARM's limits.
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
}

// Budget and retry defaults. ARM allows 25 reads/s and 10 writes/s per
// principal and subscription; staying under leaves room for other tools.
const (
	DefaultReadsPerSecond  = 20
	DefaultReadBurst       = 100
	DefaultWritesPerSecond = 8
	DefaultWriteBurst      = 50
	DefaultMaxRetries      = 6
	DefaultRetryDelay      = time.Second
	DefaultMaxRetryDelay   = 60 * time.Second
)

// SettingsFromEnv reads ACIWORKER_ARM_ENDPOINT, ACIWORKER_ARM_AUDIENCE,
// AZURE_AUTHORITY_HOST, AZURE_TENANT_ID, AZURE_CLIENT_ID,
// AZURE_CLIENT_SECRET, ACIWORKER_ARM_READS_PER_SECOND and
// ACIWORKER_ARM_WRITES_PER_SECOND.
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
	return azcore.ClientOptions{Cloud: s.Cloud(), Transport: s.Transport, Telemetry: s.telemetry()}
}

func (s Settings) telemetry() policy.TelemetryOptions {
	id := s.ApplicationID
	if id == "" {
		id = buildinfo.Get().AzureApplicationID()
	}
	return policy.TelemetryOptions{ApplicationID: id}
}

type credKey struct {
	arm, audience, authority, tenant, client, secret string
	transport                                        any
}

var credCache sync.Map // credKey -> azcore.TokenCredential

// Credential returns a service principal credential when TenantID, ClientID
// and ClientSecret are all set, else DefaultAzureCredential. Equal settings
// share one credential per process, so tokens are fetched once and cached.
func (s Settings) Credential() (azcore.TokenCredential, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	key := credKey{s.ARMEndpoint, s.ARMAudience, s.AuthorityHost, s.TenantID, s.ClientID, s.ClientSecret, nil}
	cacheable := true
	if s.Transport != nil {
		if reflect.TypeOf(s.Transport).Comparable() {
			key.transport = s.Transport
		} else {
			cacheable = false
		}
	}
	if cacheable {
		if c, ok := credCache.Load(key); ok {
			return c.(azcore.TokenCredential), nil
		}
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
	if cacheable {
		actual, _ := credCache.LoadOrStore(key, cred)
		cred = actual.(azcore.TokenCredential)
	}
	return cred, nil
}
