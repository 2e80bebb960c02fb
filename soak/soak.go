// Package soak runs many flow runs through `aciworker start` against a real
// Prefect server and the Azure emulator while injecting faults (ARM 5xx
// and 429 bursts, failed provisioning, killed containers, SIGKILLed
// workers, a Prefect server restart) and hostile input, then checks that
// nothing was lost, duplicated, left behind or leaked.
package soak

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/runtime"
	"github.com/aciworker/aciworker/internal/backoff"
	"github.com/aciworker/aciworker/internal/pgcluster"
	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
)

// Config configures a soak. Zero values take the defaults noted.
type Config struct {
	Runs int     // flow runs; default 1000
	Rate float64 // runs created per second; default 2
	Seed uint64  // workload order and fault draws; default from the clock

	Mix Mix // shares of hostile kinds; default DefaultMix()

	ARM5xxShare       float64 // share of ARM requests failed with 5xx; default 0.05
	ProvisionShare    float64 // share of runs whose group fails provisioning; default 0.02
	KillShare         float64 // share of runs whose container is killed mid-run; default 0.03
	Bursts429         int     // bursts of 429 with Retry-After; default max(2, Runs/100)
	WorkerKills       int     // SIGKILLs of the worker; default 3 (negative: none)
	ServerRestarts    int     // Prefect server restarts; default 1 (negative: none)
	SleepMin          time.Duration
	SleepMax          time.Duration // the stand-in's time in Running; default 1s..6s
	Limit             int           // the worker's --limit; 0 = none
	Postgres          bool          // run the Prefect server on a throwaway PostgreSQL
	DatabaseURL       string        // or on this database
	RepoDir           string        // the aciworker module; default: found with `go env GOMOD`
	OutDir            string        // logs and the report; default a temporary directory
	Settle            time.Duration // after the last run is created, how long runs may take to finish and be cleaned up; default 5m
	DebugWorker       bool          // run the worker with --debug (more output to check for secrets)
	ServerStartupWait time.Duration // Prefect server start timeout; default 180s

	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Runs <= 0 {
		c.Runs = 1000
	}
	if c.Rate <= 0 {
		c.Rate = 2
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Mix == nil {
		c.Mix = DefaultMix()
	}
	def := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		} else if *p < 0 {
			*p = 0
		}
	}
	def(&c.ARM5xxShare, 0.05)
	def(&c.ProvisionShare, 0.02)
	def(&c.KillShare, 0.03)
	if c.Bursts429 == 0 {
		c.Bursts429 = max(2, c.Runs/100)
	}
	defInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		} else if *p < 0 {
			*p = 0
		}
	}
	defInt(&c.WorkerKills, 3)
	defInt(&c.ServerRestarts, 1)
	if c.SleepMax <= 0 {
		c.SleepMin, c.SleepMax = time.Second, 6*time.Second
	}
	if c.Settle <= 0 {
		c.Settle = 5 * time.Minute
	}
	if c.ServerStartupWait <= 0 {
		c.ServerStartupWait = 180 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Report is what a soak found.
type Report struct {
	Started  time.Time
	Duration time.Duration
	Runs     []RunResult
	Created  int
	Findings []Finding
	Faults   FaultCounts
	Counters emulator.Counters
	Restarts int // worker restarts (SIGKILLs the soak did plus unexpected exits)
	ReadBack ReadBack
	OutDir   string
	Database string // "sqlite" or "postgresql"
	Config   Config
}

// FaultCounts are the faults the soak injected.
type FaultCounts struct {
	ARM5xx           int // queued; each fails one request
	Bursts429        int
	Requests429      int // 429 responses queued by the bursts
	ThrottleWindows  int // windows with tightened ARM buckets
	Provisioning     int // provisioning failures queued
	ContainersKilled int
	WorkerKills      int
	ServerRestarts   int
	BadInputRuns     int
}

// Passed tells whether every check passed.
func (r *Report) Passed() bool { return len(r.Findings) == 0 }

type soak struct {
	cfg  Config
	log  *slog.Logger
	out  string
	rnd  *mrand.Rand
	rndM sync.Mutex

	srv  *prefecttest.Server
	pg   *pgcluster.Cluster
	emu  *emulator.Emulator
	pf   *prefect.Client
	az   *aci.Client
	raw  *armReader
	scan *Scanner

	pool   string
	worker *proc

	mu          sync.Mutex
	faults      FaultCounts
	killed      map[string]bool // flow run ids whose container the soak killed
	kinds       map[string]Item // flow run id -> item
	created     int
	ledger      *Ledger
	scanned     map[string]bool
	unscanned   map[string]bool
	secretHits  []SecretHit
	workerExits []string
	restarts    int
	vanished    int // deployment records deleted before the soak could read them
	plan        []Item
	specs       map[Item]deploymentSpec
	depIDs      map[Item]string
	serverDown  sync.RWMutex // held for writing while the server restarts
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *soak) intN(n int) int {
	s.rndM.Lock()
	defer s.rndM.Unlock()
	return s.rnd.IntN(n)
}

// Run runs a soak and returns its report; err is for a soak that could not
// run at all (a failed check is a finding in the report, not an error).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	s := &soak{cfg: cfg, log: cfg.Logger, killed: map[string]bool{}, kinds: map[string]Item{},
		ledger: NewLedger(), scanned: map[string]bool{}, unscanned: map[string]bool{},
		rnd: mrand.New(mrand.NewPCG(cfg.Seed, cfg.Seed>>1|1))}
	rep := &Report{Started: time.Now(), Config: cfg}
	out := cfg.OutDir
	if out == "" {
		d, err := os.MkdirTemp("", "aciworker-soak-")
		if err != nil {
			return nil, err
		}
		out = d
	}
	// Absolute: the binaries built under it are started from other
	// working directories.
	out, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(out, "logs"), 0o755); err != nil {
		return nil, err
	}
	s.out, rep.OutDir = out, out
	defer s.teardown()
	if err := s.setup(ctx, rep); err != nil {
		return nil, err
	}
	if err := s.drive(ctx); err != nil {
		return nil, err
	}
	if err := s.collect(ctx, rep); err != nil {
		return nil, err
	}
	rep.Duration = time.Since(rep.Started)
	return rep, nil
}

func (s *soak) setup(ctx context.Context, rep *Report) error {
	cfg := s.cfg
	repo := cfg.RepoDir
	if repo == "" {
		var err error
		if repo, err = moduleRoot(ctx); err != nil {
			return err
		}
	}
	bin := filepath.Join(s.out, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	s.log.Info("building aciworker and the stand-in engine")
	workerBin, standinBin, err := build(ctx, repo, bin)
	if err != nil {
		return err
	}

	// Distinctive secrets: every surface is searched for each of them.
	authString := "soak:auth-" + randHex(12)
	apiKey := "pnu_soakkey" + randHex(12)
	headerToken := "soak-hdr-" + randHex(12)
	regPassword := "soak-regpw-" + randHex(12)
	clientSecret := "soak-azsecret-" + randHex(12)
	s.scan = NewScanner(
		Spellings("Prefect auth string", authString),
		Spellings("Prefect API key", apiKey),
		Spellings("custom header token", headerToken),
		Spellings("registry password", regPassword),
		Spellings("Azure client secret", clientSecret),
	)

	dbURL := cfg.DatabaseURL
	rep.Database = "sqlite"
	if cfg.Postgres && dbURL == "" {
		s.log.Info("starting PostgreSQL")
		pg, err := pgcluster.Start(ctx, 300)
		if err != nil {
			return err
		}
		s.pg, dbURL = pg, pg.URL
	}
	if dbURL != "" {
		rep.Database = "postgresql"
	}
	s.log.Info("starting the Prefect server", "database", rep.Database)
	srv, err := prefecttest.Start(ctx, prefecttest.Options{AuthString: authString, DatabaseURL: dbURL, StartTimeout: cfg.ServerStartupWait})
	if err != nil {
		return err
	}
	s.srv = srv
	s.log.Info("Prefect server ready", "api", srv.APIURL, "after", time.Since(rep.Started).Round(time.Millisecond))

	emuLog, err := os.Create(filepath.Join(s.out, "logs", "emulator.log"))
	if err != nil {
		return err
	}
	s.emu, err = emulator.New(emulator.Config{
		ClientSecret: clientSecret,
		// Quotas out of the way: the soak is about faults it chooses.
		MaxGroups: 100000, MaxCores: 100000,
		Images: []runtime.Image{{Pattern: registryServer + "/*", PassthroughEntrypoints: []string{runtime.PrefectEntrypoint}}},
		Logger: slog.New(slog.NewTextHandler(emuLog, nil)),
	})
	if err != nil {
		return err
	}
	es := s.emu.Settings()

	headers, _ := json.Marshal(map[string]string{"X-Soak-Token": headerToken})
	s.pf, err = prefect.New(prefect.Config{APIURL: srv.APIURL, AuthString: authString,
		CustomHeaders: map[string]string{"X-Soak-Token": headerToken}, MaxRetries: 8, Logger: s.log,
		// A request the server sits on (SQLite holding a lock) is retried
		// rather than waited on for minutes.
		HTTPClient: &http.Client{Timeout: 30 * time.Second}})
	if err != nil {
		return err
	}
	azs := aci.Settings{ARMEndpoint: s.emu.URL() + "/", AuthorityHost: s.emu.AuthorityHost(),
		TenantID: es.TenantID, ClientID: es.ClientID, ClientSecret: es.ClientSecret, Transport: s.emu.Client()}
	cred, err := azs.Credential()
	if err != nil {
		return err
	}
	if s.az, err = aci.NewClient(es.SubscriptionID, cred, azs); err != nil {
		return err
	}
	s.raw = &armReader{base: s.emu.URL(), sub: es.SubscriptionID, rg: es.ResourceGroup, cred: cred, http: s.emu.Client()}

	suffix := randHex(3)
	s.pool = "soak-" + suffix
	tmpl, err := poolTemplate()
	if err != nil {
		return err
	}
	wl := workload{standin: standinBin, marks: filepath.Join(s.out, "container-starts.txt"), rg: es.ResourceGroup,
		subscription: es.SubscriptionID, sleepMin: cfg.SleepMin.String(), sleepMax: cfg.SleepMax.String(), registryPassword: regPassword}
	specs := wl.specs(s.pool)
	depIDs, err := createDeployments(ctx, s.pf, specs, s.pool, tmpl)
	if err != nil {
		return err
	}
	s.plan = Plan(cfg.Runs, cfg.Mix, cfg.Seed)
	s.specs = map[Item]deploymentSpec{}
	for _, sp := range specs {
		s.specs[sp.Item] = sp
	}
	s.depIDs = depIDs

	env := append(cleanEnv(), srv.Env()...)
	env = append(env, s.emu.Env()...)
	env = append(env, "PREFECT_API_KEY="+apiKey, "PREFECT_CLIENT_CUSTOM_HEADERS="+string(headers))
	logs := filepath.Join(s.out, "logs")
	args := func(pool, name string) []string {
		a := []string{"start", "--pool", pool, "--name", name, "--polling-interval", "1", "--heartbeat-interval", "5", "--prefetch-seconds", "5"}
		if cfg.Limit > 0 {
			a = append(a, "--limit", fmt.Sprint(cfg.Limit))
		}
		if cfg.DebugWorker {
			a = append(a, "--debug")
		}
		return a
	}
	s.worker = &proc{name: "worker", bin: workerBin, args: args(s.pool, "soak-worker-"+suffix), env: env, dir: s.out, logs: logs}
	return s.worker.start()
}

func (s *soak) teardown() {
	if s.worker != nil {
		s.worker.signal(syscall.SIGTERM, 20*time.Second)
	}
	if s.emu != nil {
		_ = s.emu.Close()
	}
	if s.srv != nil {
		// Keep the server's log: Stop removes its directory.
		if data, err := os.ReadFile(s.srv.LogPath()); err == nil {
			_ = os.WriteFile(filepath.Join(s.out, "logs", "prefect-server.log"), data, 0o644)
		}
		_ = s.srv.Stop()
	}
	if s.pg != nil {
		if data, err := os.ReadFile(s.pg.Log); err == nil {
			_ = os.WriteFile(filepath.Join(s.out, "logs", "postgres.log"), data, 0o644)
		}
		_ = s.pg.Stop()
	}
}

// sleepCtx waits d on the system clock, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	return backoff.Sleep(ctx, backoff.System, d)
}

func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// CIConfig is the CI-sized soak: 60 runs with every kind of fault and of
// hostile input, fewer of each. It uses PostgreSQL when the machine has
// it: the SQLite server was seen to stall for minutes after a SIGKILLed
// client.
func CIConfig() Config {
	return Config{
		Postgres: pgcluster.Available(),
		Runs:     60, Rate: 1.5,
		SleepMin: 500 * time.Millisecond, SleepMax: 3 * time.Second,
		ARM5xxShare: 0.05, ProvisionShare: 0.02, KillShare: 0.05,
		Bursts429: 2, WorkerKills: 3, ServerRestarts: 1,
		Settle: 2 * time.Minute,
	}
}
