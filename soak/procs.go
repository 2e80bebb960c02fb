package soak

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// build compiles the worker and the stand-in engine from the module at
// repo into dir.
func build(ctx context.Context, repo, dir string) (worker, standin string, err error) {
	worker, standin = filepath.Join(dir, "aciworker"), filepath.Join(dir, "standin")
	for _, b := range []struct{ out, pkg string }{{worker, "./cmd/aciworker"}, {standin, "./soak/standin"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.out, b.pkg)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
		}
	}
	return worker, standin, nil
}

// moduleRoot finds the directory of the enclosing Go module.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the aciworker module: run the soak from the repository (or pass its directory)")
	}
	return filepath.Dir(mod), nil
}

// cleanEnv is this process's environment without anything that would point
// a child at another Prefect or Azure.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PREFECT_") || strings.HasPrefix(k, "AZURE_") || strings.HasPrefix(k, "ACIWORKER_") ||
			k == "SSL_CERT_FILE" || k == "REQUESTS_CA_BUNDLE" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// proc is a child process in its own process group, so that a SIGKILL
// reaches it and nothing else, and that dies with the soak.
type proc struct {
	name   string
	bin    string
	args   []string
	env    []string
	dir    string
	logs   string              // directory for <name>-<incarnation>.out/.err
	cred   *syscall.Credential // run as another user (nil: this one)
	Outs   []string
	Starts int

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	err      error
	expected bool // the soak ended it (kill or stop)
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Starts++
	base := filepath.Join(p.logs, fmt.Sprintf("%s-%d", p.name, p.Starts))
	stdout, err := os.Create(base + ".out")
	if err != nil {
		return err
	}
	stderr, err := os.Create(base + ".err")
	if err != nil {
		stdout.Close()
		return err
	}
	p.Outs = append(p.Outs, stdout.Name(), stderr.Name())
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env, cmd.Dir = p.env, p.dir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: p.cred}
	done := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// The parent-death signal follows the OS thread that forked the
		// child: keep that thread for the child's whole life.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer stdout.Close()
		defer stderr.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			close(done)
			return
		}
		started <- nil
		werr := cmd.Wait()
		p.mu.Lock()
		p.err = werr
		p.mu.Unlock()
		close(done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.done, p.expected = cmd, done, false
	return nil
}

// signal sends sig to the process group and waits up to grace for the exit
// (then SIGKILLs).
func (p *proc) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.expected = true
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
}

// exited reports an exit the soak did not cause, once.
func (p *proc) exited() (bool, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil || p.expected {
		return false, ""
	}
	select {
	case <-p.done:
		p.expected = true
		return true, fmt.Sprintf("%s (incarnation %d) exited on its own: %v; see %s", p.name, p.Starts, p.err, p.Outs[len(p.Outs)-1])
	default:
		return false, ""
	}
}
