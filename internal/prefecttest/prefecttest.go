// Package prefecttest runs a real Prefect server, from the project's pinned
// virtualenv, for tests: one per test package through Main, or extra ones
// (for example with API auth on) through New. It also runs the real
// `prefect` CLI and Python against a server, as an oracle and as the
// client that sets pools and deployments up the way users do.
package prefecttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/pgcluster"
	"github.com/aciworker/aciworker/internal/pyvenv"

	"github.com/aciworker/aciworker/internal/freeport"
)

// Options configure a server.
type Options struct {
	// AuthString turns on PREFECT_SERVER_API_AUTH_STRING ("user:pass");
	// Env and CLI then carry it as PREFECT_API_AUTH_STRING.
	AuthString string
	// DatabaseURL replaces the default SQLite file in the server's temp dir,
	// e.g. postgresql+asyncpg://u:p@127.0.0.1:5432/db for large benchmarks.
	DatabaseURL string
	// Postgres runs the server on a PostgreSQL cluster of its own (made
	// and removed with the server) instead of SQLite, which answers
	// "database is locked" with hundreds of runs in flight.
	Postgres bool
	// Env holds extra "KEY=VALUE" settings for the server process (they win).
	Env []string
	// Args are extra `prefect server start` arguments, e.g. "--no-services".
	Args []string
	// StartTimeout bounds the wait for /api/health; 0 means 120 s.
	StartTimeout time.Duration
}

// Server is a running Prefect server.
type Server struct {
	APIURL string // http://127.0.0.1:PORT/api
	Home   string // PREFECT_HOME for clients (separate from the server's)
	Venv   string // the virtualenv the server runs from
	Port   int

	opts       Options
	dir        string
	serverHome string
	logPath    string

	mu   sync.Mutex
	proc *process
	gone bool
	pg   *pgcluster.Cluster
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

const (
	defaultStartTimeout = 120 * time.Second
	stopGrace           = 10 * time.Second
	logTailBytes        = 4096
)

// Start launches a server on a free loopback port with a fresh PREFECT_HOME
// and database and waits until it answers /api/health.
func Start(ctx context.Context, opts Options) (*Server, error) {
	venv, err := pyvenv.Ensure(ctx)
	if err != nil {
		return nil, fmt.Errorf("prefecttest: %w", err)
	}
	dir, err := os.MkdirTemp("", "prefecttest-")
	if err != nil {
		return nil, fmt.Errorf("prefecttest: %w", err)
	}
	s := &Server{
		Venv:       venv,
		Home:       filepath.Join(dir, "client-home"),
		opts:       opts,
		dir:        dir,
		serverHome: filepath.Join(dir, "server-home"),
		logPath:    filepath.Join(dir, "server.log"),
	}
	for _, d := range []string{s.Home, s.serverHome} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("prefecttest: %w", err)
		}
	}
	if opts.Postgres && opts.DatabaseURL == "" {
		if s.pg, err = pgcluster.Start(ctx, 500); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("prefecttest: %w", err)
		}
		s.opts.DatabaseURL = s.pg.URL
	}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		if s.pg != nil {
			s.pg.Stop()
		}
		return nil, err
	}
	// Another process can grab the port between our probe and the server's
	// bind; a fresh port on "address already in use" makes that harmless.
	for attempt := 0; ; attempt++ {
		if s.Port, err = freeport.Get(); err != nil {
			return fail(fmt.Errorf("prefecttest: free port: %w", err))
		}
		s.APIURL = "http://127.0.0.1:" + strconv.Itoa(s.Port) + "/api"
		err = s.launch(ctx)
		if err == nil {
			return s, nil
		}
		if attempt >= 2 || !strings.Contains(s.logTail(), "address already in use") {
			return fail(err)
		}
	}
}

// New starts a server for one test and stops it when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	pyvenv.Require(t)
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start Prefect server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop Prefect server: %v", err)
		}
	})
	return s
}

// hermeticEnv is the test process environment without Prefect settings, so
// that a developer's profile or API URL never leaks into a test.
func hermeticEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PREFECT_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (s *Server) serverEnv() []string {
	db := s.opts.DatabaseURL
	if db == "" {
		db = "sqlite+aiosqlite:///" + filepath.Join(s.dir, "prefect.db")
	}
	env := append(hermeticEnv(),
		"PREFECT_HOME="+s.serverHome,
		"PREFECT_SERVER_DATABASE_CONNECTION_URL="+db,
		"PREFECT_API_DATABASE_CONNECTION_URL="+db,
		"PREFECT_SERVER_ANALYTICS_ENABLED=false",
		"PREFECT_SERVER_UI_ENABLED=false",
		"PREFECT_UI_ENABLED=false",
		"PREFECT_SERVER_LOGGING_LEVEL=WARNING",
		"PREFECT_CLI_PROMPT=false",
		"PREFECT_CLI_COLORS=false",
		// Tests queue dozens of runs at once behind a worker's --limit; with
		// Prefect's default of 15 s the late-runs service then writes a Late
		// state for each of them, and on SQLite those writes pile up behind
		// "database is locked" until the connection pool is exhausted and the
		// server answers 503 for minutes. Late states are still tested: the
		// worker tests write them directly.
		"PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS=600",
		// The server fetches collection views from the internet and falls
		// back to its bundled copy on any error; an unreachable proxy makes
		// that fallback immediate and the tests independent of the network.
		"HTTPS_PROXY=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9",
		"HTTP_PROXY=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9",
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
	)
	if s.opts.AuthString != "" {
		env = append(env, "PREFECT_SERVER_API_AUTH_STRING="+s.opts.AuthString)
	}
	return append(env, s.opts.Env...)
}

// launch starts the server process on s.Port and waits for health.
func (s *Server) launch(ctx context.Context) error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("prefecttest: server log: %w", err)
	}
	args := append([]string{"server", "start", "--host", "127.0.0.1", "--port", strconv.Itoa(s.Port)}, s.opts.Args...)
	cmd := exec.Command(filepath.Join(s.Venv, "bin", "prefect"), args...)
	cmd.Env = s.serverEnv()
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal is tied to the OS thread that forks the
		// child, so that thread stays locked (and alive) until it exits.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer logf.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			close(p.done)
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("prefecttest: start server: %w", err)
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	timeout := s.opts.StartTimeout
	if timeout <= 0 {
		timeout = defaultStartTimeout
	}
	if err := s.waitHealthy(ctx, p, timeout); err != nil {
		s.kill(p)
		return err
	}
	return nil
}

func (s *Server) waitHealthy(ctx context.Context, p *process, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.APIURL+"/health", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("prefecttest: server exited before it was healthy (%v); log tail:\n%s", p.err, s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("prefecttest: server not healthy after %v: %w; log tail:\n%s", timeout, ctx.Err(), s.logTail())
		case <-tick.C:
		}
	}
}

// kill stops a server process group: SIGTERM, then SIGKILL after a grace
// period, and SIGKILL again for anything left in the group.
func (s *Server) kill(p *process) {
	if p == nil || p.cmd.Process == nil {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// Stop stops the server and its children and removes its files. It is
// safe to call more than once.
func (s *Server) Stop() error {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	already := s.gone
	s.gone = true
	s.mu.Unlock()
	if already {
		return nil
	}
	s.kill(p)
	var errs []error
	if s.pg != nil {
		errs = append(errs, s.pg.Stop())
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("prefecttest: remove %s: %w", s.dir, err))
	}
	return errors.Join(errs...)
}

// Restart stops the server and starts it again on the same port with the
// same database, as an operator restarting it would.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return errors.New("prefecttest: restart of a stopped server")
	}
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	s.kill(p)
	return s.launch(ctx)
}

// Running reports whether the server process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// AuthString returns the server's auth string ("" when auth is off).
func (s *Server) AuthString() string { return s.opts.AuthString }

// LogPath is the file holding the server's output.
func (s *Server) LogPath() string { return s.logPath }

func (s *Server) logTail() string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	if len(data) > logTailBytes {
		data = data[len(data)-logTailBytes:]
	}
	return string(data)
}

// Env returns the settings a client needs to use this server: API URL,
// client PREFECT_HOME, auth string if any, and settings that keep the
// CLI non-interactive and quiet. Combine it with an environment that has
// no other PREFECT_ variables (see CommandEnv).
func (s *Server) Env() []string {
	env := []string{
		"PREFECT_API_URL=" + s.APIURL,
		"PREFECT_HOME=" + s.Home,
		"PREFECT_SERVER_ANALYTICS_ENABLED=false",
		"PREFECT_CLI_PROMPT=false",
		"PREFECT_CLI_COLORS=false",
		"PREFECT_CLI_WRAP_LINES=false",
		"PREFECT_SERVER_EPHEMERAL_ENABLED=false",
	}
	if s.opts.AuthString != "" {
		env = append(env, "PREFECT_API_AUTH_STRING="+s.opts.AuthString)
	}
	return env
}

// CommandEnv is the full environment for a client process: this process's
// environment without PREFECT_ variables, plus Env, plus extra.
func (s *Server) CommandEnv(extra ...string) []string {
	env := append(hermeticEnv(), "COLUMNS=250")
	env = append(env, s.Env()...)
	return append(env, extra...)
}

// Getenv looks a name up in Env, for prefect.ConfigFromEnv.
func (s *Server) Getenv(name string) string {
	for _, kv := range s.Env() {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v
		}
	}
	return ""
}

// CLI runs the real `prefect` CLI against the server and returns its
// standard output; a failure carries its standard error.
func (s *Server) CLI(ctx context.Context, args ...string) ([]byte, error) {
	return s.run(ctx, filepath.Join(s.Venv, "bin", "prefect"), args...)
}

// Python runs a Python script (as `python -c script args...`) from the
// virtualenv against the server and returns its standard output.
func (s *Server) Python(ctx context.Context, script string, args ...string) ([]byte, error) {
	return s.run(ctx, filepath.Join(s.Venv, "bin", "python"), append([]string{"-c", script}, args...)...)
}

func (s *Server) run(ctx context.Context, bin string, args ...string) ([]byte, error) {
	// Pdeathsig follows the forking OS thread; keep it alive for the run.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = s.CommandEnv()
	cmd.Dir = s.Home
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		name := filepath.Base(bin)
		if len(args) > 0 && name != "python" {
			name += " " + args[0]
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w\nstdout:\n%s\nstderr:\n%s", name, err, tail(stdout.String()), tail(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func tail(s string) string {
	if len(s) > logTailBytes {
		return "..." + s[len(s)-logTailBytes:]
	}
	return s
}

var (
	pkgMu      sync.Mutex
	pkgServer  *Server
	skipReason string
	extras     []*ExtraServer
)

// ExtraServer is a further server for a test package (for example one with
// auth on), declared at package level with Extra and started by Main at the
// same time as the package's server, so that tests do not wait for a second
// start-up one after the other.
type ExtraServer struct {
	opts  Options
	ready chan struct{}
	srv   *Server
	err   error
}

// Extra declares a server that Main starts alongside the package's server:
//
//	var authServer = prefecttest.Extra(prefecttest.Options{AuthString: "u:p"})
//
// Call it from a package-level variable (before TestMain runs).
func Extra(opts Options) *ExtraServer {
	e := &ExtraServer{opts: opts, ready: make(chan struct{})}
	pkgMu.Lock()
	extras = append(extras, e)
	pkgMu.Unlock()
	return e
}

// Get waits for the extra server. A failure to start it fails only the
// tests that use it.
func (e *ExtraServer) Get(t testing.TB) *Server {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	pkgMu.Lock()
	started := pkgServer != nil
	pkgMu.Unlock()
	if !started {
		t.Fatal("prefecttest.ExtraServer.Get: call prefecttest.Main from TestMain")
	}
	<-e.ready
	if e.err != nil {
		t.Fatalf("extra Prefect server: %v", e.err)
	}
	return e.srv
}

// Main runs a test package with one Prefect server, for TestMain:
//
//	func TestMain(m *testing.M) { prefecttest.Main(m, prefecttest.Options{}) }
//
// Without CI and without python3 the tests still run, and Get skips. Any
// other failure to start the server fails the package.
func Main(m *testing.M, opts Options) {
	os.Exit(Run(m, opts))
}

// Run is Main without the exit: it returns the code to exit with, for a
// TestMain that has its own clean-up to do after the tests.
func Run(m *testing.M, opts Options) int {
	if os.Getenv("CI") == "" && os.Getenv("ACIWORKER_TEST_VENV") == "" {
		if _, err := exec.LookPath("python3"); err != nil {
			skipReason = "python3 not found and CI unset: skipping a test that needs a real Prefect server"
			return m.Run()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// The virtualenv is made once, before servers start side by side.
	if _, err := pyvenv.Ensure(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "prefecttest:", err)
		return 1
	}
	pkgMu.Lock()
	todo := slices.Clone(extras)
	pkgMu.Unlock()
	for _, e := range todo {
		go func() {
			e.srv, e.err = Start(ctx, e.opts)
			close(e.ready)
		}()
	}
	stopExtras := func() {
		for _, e := range todo {
			<-e.ready
			if e.srv != nil {
				_ = e.srv.Stop()
			}
		}
	}
	srv, err := Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "prefecttest:", err)
		stopExtras()
		return 1
	}
	pkgMu.Lock()
	pkgServer = srv
	pkgMu.Unlock()

	// An interrupted test binary still takes its servers down.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-sigs; ok {
			_ = srv.Stop()
			stopExtras()
			os.Exit(1)
		}
	}()
	code := m.Run()
	signal.Stop(sigs)
	close(sigs)
	stopExtras()
	if err := srv.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "prefecttest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Get returns the package's server started by Main.
func Get(t testing.TB) *Server {
	t.Helper()
	pkgMu.Lock()
	s := pkgServer
	pkgMu.Unlock()
	if s == nil {
		if skipReason != "" {
			t.Skip(skipReason)
		}
		t.Fatal("prefecttest.Get: no server; call prefecttest.Main from TestMain")
	}
	return s
}
