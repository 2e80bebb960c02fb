// Package emulator is a local, strict emulator of the Azure APIs aciworker
// uses: the Entra ID token endpoint, Azure Resource Manager resource groups
// and deployments (with its own ARM template evaluator), and Azure Container
// Instances container groups whose containers run as local processes. It
// serves Azure's real REST shapes over HTTPS on loopback, so the unmodified
// official Azure SDK for Go works against it.
//
// Choices where Azure's exact behaviour is undocumented are listed in
// doc.go.
package emulator

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aciworker/aciworker/emulator/runtime"
)

// Config configures an emulator. Zero values take the defaults noted.
type Config struct {
	// Addr is the listen address; default "127.0.0.1:0" (a free port).
	Addr string
	// TLSNames are the server certificate's names; default 127.0.0.1 and
	// localhost. IP addresses become IP SANs. Client() routes every name
	// listed here to the emulator, whatever it resolves to.
	TLSNames []string
	// StateDir holds the CA certificate and the containers' working
	// directories; default a temporary directory removed by Close.
	StateDir string

	TenantID, ClientID, ClientSecret, SubscriptionID, ResourceGroup, Location string

	// ContainerPath is PATH for containers; default the emulator's PATH.
	ContainerPath string
	// PrefectBin is put first on PATH for prefecthq/prefect images.
	PrefectBin string
	// Images is the image table, searched before the runtime's defaults.
	Images []runtime.Image
	// LogTimestampResolution truncates container log timestamps.
	LogTimestampResolution time.Duration

	// DisableThrottling turns ARM's request buckets off.
	DisableThrottling bool
	// Throttle overrides the bucket sizes (zero fields: ARM's defaults).
	Throttle ThrottleLimits
	// LROPollHint is sent as Retry-After-Ms on long-running operations;
	// default 100ms.
	LROPollHint time.Duration
	// ProvisionDelay is how long a container group stays in provisioning
	// before its containers start.
	ProvisionDelay time.Duration
	// MaxGroups and MaxCores are the per-region quotas; default 100 / 100.
	MaxGroups, MaxCores int
	// AllowGPU accepts GPU requests (ACI's GPU offering is retired).
	AllowGPU bool
	// TokenLifetime is the lifetime of issued access tokens; default 3599s.
	TokenLifetime time.Duration

	Logger *slog.Logger

	// ResponseHook, when set, is given every Entra, metadata and ARM
	// answer once it is written (tests check them against Azure's API
	// description). It is called from the serving goroutines.
	ResponseHook func(Response)
}

// Response is one answer the emulator gave, for Config.ResponseHook.
type Response struct {
	Op, Method, Path, APIVersion string
	Status                       int
	Body                         []byte
}

// Settings are the identities and names a client needs.
type Settings struct {
	TenantID, ClientID, ClientSecret, SubscriptionID, ResourceGroup, Location string
}

// Default identities. The client secret is random per emulator so that a
// client can only succeed by reading what the emulator printed.
const (
	DefaultTenantID       = "3f2c6a1e-8b4d-4c7a-9e15-0d2b7f6a4c11"
	DefaultClientID       = "b7e4d2a9-5c31-4f8e-a6d0-91c3e5f7b208"
	DefaultSubscriptionID = "6d1e9b3c-2a7f-4e58-b0c4-7f3a9d2e1c65"
	DefaultResourceGroup  = "aciworker-emulator"
	DefaultLocation       = "eastus"
)

// Emulator is a running emulator. Create it with New; stop it with Close.
type Emulator struct {
	cfg    Config
	log    *slog.Logger
	certs  *certs
	caFile string
	tmpDir string
	ln     net.Listener
	srv    *http.Server
	url    string
	client *http.Client
	rt     *runtime.Runtime

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	throttle *throttler
	faults   faultSet
	counters counterSet
	reqlog   requestLog
	tokens   tokenStore

	mu       sync.RWMutex
	rgs      map[string]*resourceGroup // lower-cased name
	ops      map[string]*asyncOp
	provFail []provisionFault

	closeOnce sync.Once
	closeErr  error
}

type provisionFault struct{ code, message string }

// New starts an emulator; it is serving when New returns.
func New(cfg Config) (*Emulator, error) {
	cfg = withDefaults(cfg)
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &Emulator{
		cfg:      cfg,
		log:      logger,
		throttle: newThrottler(!cfg.DisableThrottling, cfg.Throttle),
		rgs:      map[string]*resourceGroup{},
		ops:      map[string]*asyncOp{},
	}
	e.tokens.init()
	e.ctx, e.cancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			_ = e.Close()
		}
	}()

	stateDir := cfg.StateDir
	if stateDir == "" {
		d, err := os.MkdirTemp("", "aciworker-emulator-")
		if err != nil {
			return nil, fmt.Errorf("emulator: create state dir: %w", err)
		}
		e.tmpDir, stateDir = d, d
	} else if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("emulator: create state dir %q: %w", stateDir, err)
	}

	c, err := newCerts(cfg.TLSNames)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	e.certs = c
	e.caFile = filepath.Join(stateDir, "emulator-ca.pem")
	if err := os.WriteFile(e.caFile, c.caPEM, 0o644); err != nil {
		return nil, fmt.Errorf("emulator: write CA certificate: %w", err)
	}

	workRoot := filepath.Join(stateDir, "containers")
	if err := os.MkdirAll(workRoot, 0o755); err != nil {
		return nil, fmt.Errorf("emulator: create containers dir: %w", err)
	}
	e.rt = runtime.New(runtime.Config{
		BaseEnv:             []string{"PATH=" + cfg.ContainerPath},
		WorkRoot:            workRoot,
		Images:              cfg.Images,
		PrefectBin:          cfg.PrefectBin,
		TimestampResolution: cfg.LogTimestampResolution,
		Logger:              logger,
	})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: listen on %s: %w", cfg.Addr, err)
	}
	e.ln = ln
	if !loopback(ln.Addr()) {
		logger.Warn("the emulator listens beyond this machine: its containers are processes on this host, so anyone who reaches it with the client secret runs commands here; bind to 127.0.0.1 unless that is meant", "addr", ln.Addr().String())
	}
	e.url = "https://" + urlHost(ln.Addr().String(), cfg.TLSNames)
	e.client = e.newClient()

	e.rgs[strings.ToLower(cfg.ResourceGroup)] = newResourceGroup(cfg.SubscriptionID, cfg.ResourceGroup, cfg.Location, nil)

	e.srv = &http.Server{
		Handler:           e,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{c.server}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	tlsLn := tls.NewListener(ln, e.srv.TLSConfig)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := e.srv.Serve(tlsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("emulator server stopped", "err", err)
		}
	}()
	logger.Info("emulator listening", "url", e.url, "ca", e.caFile)
	ok = true
	return e, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if len(cfg.TLSNames) == 0 {
		cfg.TLSNames = []string{"127.0.0.1", "localhost"}
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&cfg.TenantID, DefaultTenantID)
	def(&cfg.ClientID, DefaultClientID)
	def(&cfg.SubscriptionID, DefaultSubscriptionID)
	def(&cfg.ResourceGroup, DefaultResourceGroup)
	def(&cfg.Location, DefaultLocation)
	cfg.Location = normLocation(cfg.Location)
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = "emu~" + randHex(16)
	}
	if cfg.ContainerPath == "" {
		cfg.ContainerPath = os.Getenv("PATH")
	}
	if cfg.LROPollHint <= 0 {
		cfg.LROPollHint = 100 * time.Millisecond
	}
	if cfg.MaxGroups <= 0 {
		cfg.MaxGroups = 100
	}
	if cfg.MaxCores <= 0 {
		cfg.MaxCores = 100
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = 3599 * time.Second
	}
	return cfg
}

// loopback reports whether a listener is reachable from this machine only;
// a wildcard address (0.0.0.0, ::) is not.
func loopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// urlHost is the host:port clients should use: the listen IP, unless the
// listener is on a wildcard address, then the first TLS name.
func urlHost(addr string, names []string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = names[0]
	}
	return net.JoinHostPort(host, port)
}

// URL is the ARM endpoint, e.g. https://127.0.0.1:PORT.
func (e *Emulator) URL() string { return e.url }

// AuthorityHost is the Entra ID authority host (URL + "/").
func (e *Emulator) AuthorityHost() string { return e.url + "/" }

// CAFile is the path of the PEM file holding the emulator's CA certificate.
func (e *Emulator) CAFile() string { return e.caFile }

// CAPEM is the emulator's CA certificate in PEM form.
func (e *Emulator) CAPEM() []byte { return append([]byte(nil), e.certs.caPEM...) }

// Settings returns the identities and names a client needs.
func (e *Emulator) Settings() Settings {
	c := e.cfg
	return Settings{TenantID: c.TenantID, ClientID: c.ClientID, ClientSecret: c.ClientSecret,
		SubscriptionID: c.SubscriptionID, ResourceGroup: c.ResourceGroup, Location: c.Location}
}

// Env returns the KEY=VALUE lines that point a client at the emulator.
func (e *Emulator) Env() []string {
	c := e.cfg
	return []string{
		"ACIWORKER_ARM_ENDPOINT=" + e.url,
		"AZURE_AUTHORITY_HOST=" + e.AuthorityHost(),
		"SSL_CERT_FILE=" + e.caFile,
		"AZURE_TENANT_ID=" + c.TenantID,
		"AZURE_CLIENT_ID=" + c.ClientID,
		"AZURE_CLIENT_SECRET=" + c.ClientSecret,
		"AZURE_SUBSCRIPTION_ID=" + c.SubscriptionID,
		"AZURE_RESOURCE_GROUP=" + c.ResourceGroup,
	}
}

// Client returns an HTTP client that trusts the emulator's CA (and the
// system roots) and reaches the emulator for every one of its TLS names,
// e.g. a login.microsoftonline.com name used for instance discovery.
func (e *Emulator) Client() *http.Client { return e.client }

func (e *Emulator) newClient() *http.Client {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	pool.AddCert(e.certs.caCert)
	names := map[string]bool{}
	for _, n := range e.cfg.TLSNames {
		names[strings.ToLower(n)] = true
	}
	target := e.ln.Addr().String()
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err == nil && names[strings.ToLower(host)] {
				addr = target
			}
			return dialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &http.Client{Transport: tr}
}

// SetThrottling turns ARM throttling on or off at runtime.
func (e *Emulator) SetThrottling(on bool) { e.throttle.set(on) }

// SetThrottleLimits changes the bucket sizes (zero fields: ARM's defaults)
// and refills every bucket.
func (e *Emulator) SetThrottleLimits(l ThrottleLimits) { e.throttle.setLimits(l) }

// InjectFault makes the next f.Times requests of f.Op fail.
func (e *Emulator) InjectFault(f Fault) { e.faults.add(f) }

// ClearFaults removes every pending injected fault.
func (e *Emulator) ClearFaults() { e.faults.clear() }

// FailProvisioning makes the next times container groups fail provisioning
// with the given ACI error code and message.
func (e *Emulator) FailProvisioning(times int, code, message string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for range times {
		e.provFail = append(e.provFail, provisionFault{code: code, message: message})
	}
}

// Counters returns a snapshot of the request counters.
func (e *Emulator) Counters() Counters { return e.counters.snapshot() }

// RequestLog returns the latest requests (method, path, operation, status).
func (e *Emulator) RequestLog() []RequestRecord { return e.reqlog.snapshot() }

// Close stops serving and kills every container process.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		e.cancel()
		if e.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := e.srv.Shutdown(ctx); err != nil {
				_ = e.srv.Close()
			}
			cancel()
		} else if e.ln != nil {
			_ = e.ln.Close()
		}
		e.wg.Wait()
		if e.rt != nil {
			e.rt.Close()
		}
		if e.tmpDir != "" {
			if err := os.RemoveAll(e.tmpDir); err != nil {
				e.closeErr = fmt.Errorf("emulator: remove state dir: %w", err)
			}
		}
	})
	return e.closeErr
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newGUID returns a random version-4 UUID string.
func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
