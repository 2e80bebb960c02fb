package prefecttest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
)

const panicChild = "PREFECTTEST_PANIC_CHILD_PIDFILE"

func TestMain(m *testing.M) {
	if os.Getenv(panicChild) != "" {
		// The child of TestNoServerSurvivesAPanic needs no package server.
		os.Exit(m.Run())
	}
	prefecttest.Main(m, prefecttest.Options{})
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestCLIAndPythonTalkToTheServer(t *testing.T) {
	t.Parallel()
	s := prefecttest.Get(t)
	ctx := ctxFor(t)
	if !strings.HasPrefix(s.APIURL, "http://127.0.0.1:") || !strings.HasSuffix(s.APIURL, "/api") || s.Port == 0 {
		t.Fatalf("APIURL %q port %d", s.APIURL, s.Port)
	}
	if out, err := s.CLI(ctx, "work-pool", "create", "harness-pool", "--type", "azure-container-instance"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	script := `
import asyncio, os, sys
import prefect
from prefect.client.orchestration import get_client
async def main():
    async with get_client() as c:
        p = await c.read_work_pool(sys.argv[1])
        print(prefect.__version__, p.type, os.environ["PREFECT_API_URL"], os.environ["PREFECT_HOME"])
asyncio.run(main())
`
	out, err := s.Python(ctx, script, "harness-pool")
	if err != nil {
		t.Fatal(err)
	}
	want := "3.8.8 azure-container-instance " + s.APIURL + " " + s.Home
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("python printed %q, want %q", got, want)
	}
	// The Go client configured from Env sees the same pool.
	c, err := prefect.New(prefect.ConfigFromEnv(s.Getenv))
	if err != nil {
		t.Fatal(err)
	}
	if wp, err := c.ReadWorkPool(ctx, "harness-pool"); err != nil || wp.Type != "azure-container-instance" {
		t.Fatalf("pool %+v %v", wp, err)
	}
	// A failing command reports its output.
	_, err = s.CLI(ctx, "work-pool", "inspect", "no-such-pool")
	if err == nil || !strings.Contains(err.Error(), "work-pool") || !strings.Contains(err.Error(), "no-such-pool") {
		t.Fatalf("failing CLI: %v", err)
	}
}

func TestCommandEnvIsHermetic(t *testing.T) {
	s := prefecttest.Get(t)
	t.Setenv("PREFECT_API_KEY", "leaked-key")
	t.Setenv("PREFECT_API_URL", "http://example.invalid/api")
	env := s.CommandEnv("EXTRA=1")
	seen := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		seen[k] = v
	}
	if _, ok := seen["PREFECT_API_KEY"]; ok {
		t.Error("PREFECT_API_KEY from the test process leaked")
	}
	if seen["PREFECT_API_URL"] != s.APIURL || seen["PREFECT_HOME"] != s.Home || seen["EXTRA"] != "1" || seen["PATH"] == "" {
		t.Errorf("env %v", seen)
	}
	if _, ok := seen["PREFECT_API_AUTH_STRING"]; ok {
		t.Error("auth string set on a server without auth")
	}
}

func TestRestartKeepsPortAndData(t *testing.T) {
	t.Parallel()
	s := prefecttest.New(t, prefecttest.Options{AuthString: "u:p-restart"})
	ctx := ctxFor(t)
	if s.Getenv("PREFECT_API_AUTH_STRING") != "u:p-restart" {
		t.Fatalf("Env() = %v lacks the auth string", s.Env())
	}
	c, err := prefect.New(prefect.ConfigFromEnv(s.Getenv))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVariable(ctx, "kept", "value", nil); err != nil {
		t.Fatal(err)
	}
	url, pid := s.APIURL, s.PID()
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if s.APIURL != url || s.PID() == pid || !s.Running() {
		t.Fatalf("after restart: url %s (was %s), pid %d (was %d), running %v", s.APIURL, url, s.PID(), pid, s.Running())
	}
	waitGone(t, pid)
	v, err := c.ReadVariableByName(ctx, "kept")
	if err != nil || v.Value != "value" {
		t.Fatalf("variable after restart: %+v %v", v, err)
	}
	pid, dir := s.PID(), s.Dir()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("server dir left behind: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := s.Restart(ctx); err == nil {
		t.Fatal("Restart of a stopped server succeeded")
	}
}

func TestStartFailureShowsTheLog(t *testing.T) {
	t.Parallel()
	prefecttest.Get(t) // skips like the others without Python
	_, err := prefecttest.Start(ctxFor(t), prefecttest.Options{Args: []string{"--no-such-flag"}})
	if err == nil || !strings.Contains(err.Error(), "log tail") || !strings.Contains(err.Error(), "no-such-flag") {
		t.Fatalf("err = %v, want the server's complaint in the error", err)
	}
}

// A test binary that dies (panic, -timeout) takes its server with it.
func TestNoServerSurvivesAPanic(t *testing.T) {
	if pidFile := os.Getenv(panicChild); pidFile != "" {
		s, err := prefecttest.Start(context.Background(), prefecttest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(s.PID())), 0o644); err != nil {
			t.Fatal(err)
		}
		panic("deliberate panic with a running server")
	}
	t.Parallel()
	prefecttest.Get(t)
	tmp := t.TempDir()
	pidFile := filepath.Join(tmp, "pid")
	cmd := exec.CommandContext(ctxFor(t), os.Args[0], "-test.run=^TestNoServerSurvivesAPanic$")
	// The child cannot clean up after its panic: its files go under tmp.
	cmd.Env = append(os.Environ(), panicChild+"="+pidFile, "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "deliberate panic") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("child wrote no pid: %v\n%s", err, out)
	}
	pid, _ := strconv.Atoi(string(data))
	waitGone(t, pid)
}

// waitGone waits until no process of the group pid exists.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := syscall.Kill(-pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still alive (kill 0: %v)", pid, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
