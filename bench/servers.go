package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aciworker/aciworker/internal/freeport"
)

// proc is a child process the bench started, in its own process group so
// that stopping it also stops what it spawned.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  *os.File
}

func startProc(name string, cmd *exec.Cmd, logPath string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	if cmd.Stdout == nil {
		cmd.Stdout = f
	}
	cmd.Stderr = f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, cmd.Path, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: f}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGINT to the group (a worker's graceful shutdown), then
// SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if ok, _ := p.exited(); ok {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// prefectServer is one `prefect server start` on a free loopback port.
type prefectServer struct {
	proc   *proc
	apiURL string
	home   string
}

func startPrefectServer(ctx context.Context, venv, dir, dbURL string, logger *slog.Logger) (*prefectServer, error) {
	port, err := freeport.Get()
	if err != nil {
		return nil, err
	}
	home := filepath.Join(dir, "prefect-home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	if dbURL == "" {
		dbURL = "sqlite+aiosqlite:///" + filepath.Join(dir, "prefect.db")
	}
	cmd := exec.Command(filepath.Join(venv, "bin", "prefect"), "server", "start", "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd.Env = append(baseEnv(),
		"PREFECT_HOME="+home,
		"PREFECT_SERVER_DATABASE_CONNECTION_URL="+dbURL,
		"PREFECT_SERVER_ANALYTICS_ENABLED=false",
		"PREFECT_SERVER_UI_ENABLED=false",
		"PREFECT_SERVER_LOGGING_LEVEL=WARNING",
	)
	cmd.Env = append(cmd.Env, serverPoolEnv()...)
	p, err := startProc("prefect server", cmd, filepath.Join(dir, "logs", "prefect-server.log"))
	if err != nil {
		return nil, err
	}
	s := &prefectServer{proc: p, apiURL: fmt.Sprintf("http://127.0.0.1:%d/api", port), home: home}
	api := &prefectAPI{url: s.apiURL, client: &http.Client{Timeout: 5 * time.Second}}
	deadline := time.Now().Add(120 * time.Second)
	for {
		if ok, err := p.exited(); ok {
			return nil, fmt.Errorf("prefect server exited before it was healthy (%v); see %s", err, p.log.Name())
		}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := api.health(hctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("prefect server not healthy at %s: %w", s.apiURL, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	logger.Info("prefect server ready", "url", s.apiURL, "database", redactDB(dbURL))
	return s, nil
}

// The Prefect server's database pool for the bench. SQLAlchemy's
// defaults (5 connections plus 10 overflow, 30 s wait) gave out first at
// N = 2 000: requests waited 30 s for a connection and failed with 500,
// for both workers alike. The cluster allows pgcluster's 500 connections,
// and the server opens one pool per engine it runs, so 40 + 40 leaves
// room for several. SQLite ignores these settings.
const (
	serverPoolSize     = 40
	serverPoolOverflow = 40
)

// serverPoolEnv is the Prefect 3 settings
// (server.database.sqlalchemy.pool_size, .max_overflow) that size it.
func serverPoolEnv() []string {
	return []string{
		"PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE=" + strconv.Itoa(serverPoolSize),
		"PREFECT_SERVER_DATABASE_SQLALCHEMY_MAX_OVERFLOW=" + strconv.Itoa(serverPoolOverflow),
	}
}

func (s *prefectServer) stop() { s.proc.stop(15 * time.Second) }

func redactDB(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.LastIndex(u, "@"); j > i {
			return u[:i+3] + "***" + u[j:]
		}
	}
	return u
}

// baseEnv is the environment every child starts from: the bench's own,
// minus anything that would point a child at another Prefect or Azure.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PREFECT_") || strings.HasPrefix(k, "AZURE_") || strings.HasPrefix(k, "ACIWORKER_") ||
			k == "SSL_CERT_FILE" || k == "REQUESTS_CA_BUNDLE" || k == "CI" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// readEnvLines reads KEY=VALUE lines from r until every wanted key was
// seen, copying everything it reads to copyTo.
func readEnvLines(r io.Reader, copyTo io.Writer, want []string) (map[string]string, error) {
	got := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if ok && isEnvName(k) {
			got[k] = strings.Trim(v, `"'`)
			if strings.Contains(k, "SECRET") || strings.Contains(k, "KEY") || strings.Contains(k, "PASSWORD") {
				line = k + "=<redacted>"
			}
		}
		fmt.Fprintln(copyTo, line)
		if hasAll(got, want) {
			return got, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var missing []string
	for _, k := range want {
		if _, ok := got[k]; !ok {
			missing = append(missing, k)
		}
	}
	return nil, fmt.Errorf("output ended before it printed %s", strings.Join(missing, ", "))
}

func isEnvName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func hasAll(m map[string]string, keys []string) bool {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

var errNotRoot = errors.New("the bench must run as root: the Python worker needs `unshare -m` and a bind mount, and the emulator binds port 443")

// startPrinting starts cmd, logging its stderr to logDir/NAME.log and its
// stdout to logDir/NAME.stdout, and returns once it has printed every
// variable in keys as KEY=VALUE lines.
func startPrinting(ctx context.Context, name string, cmd *exec.Cmd, logDir string, keys []string) (*proc, map[string]string, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	p, err := startProc(name, cmd, filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, nil, err
	}
	type result struct {
		env map[string]string
		err error
	}
	ch := make(chan result, 1)
	stdoutLog, err := os.Create(filepath.Join(logDir, name+".stdout"))
	if err != nil {
		p.stop(5 * time.Second)
		return nil, nil, err
	}
	go func() {
		env, err := readEnvLines(out, stdoutLog, keys)
		ch <- result{env, err}
		// Keep draining so the process never blocks on a full pipe.
		_, _ = io.Copy(stdoutLog, out)
		stdoutLog.Close()
	}()
	var res result
	select {
	case res = <-ch:
	case <-time.After(60 * time.Second):
		res.err = fmt.Errorf("no variables printed within 60s")
	case <-ctx.Done():
		res.err = ctx.Err()
	}
	if res.err != nil {
		p.stop(5 * time.Second)
		return nil, nil, fmt.Errorf("%s %v: %w; see %s", name, cmd.Args[1:], res.err, p.log.Name())
	}
	return p, res.env, nil
}

// startStandinDaemon starts the stand-in in daemon mode for the cheap
// engine's containers, allowed to act on apiURL only; it returns the
// daemon's URL.
func startStandinDaemon(ctx context.Context, bin, apiURL, logDir string) (*proc, string, error) {
	cmd := exec.Command(bin, "--serve", "127.0.0.1:0", "--api-url", apiURL)
	cmd.Env = baseEnv()
	p, env, err := startPrinting(ctx, "standin", cmd, logDir, []string{"STANDIN_URL"})
	if err != nil {
		return nil, "", err
	}
	return p, env["STANDIN_URL"], nil
}
