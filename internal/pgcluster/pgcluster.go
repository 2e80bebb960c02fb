// Package pgcluster runs a throwaway PostgreSQL cluster for a Prefect
// server that must carry more load than SQLite does (SQLite answers
// "database is locked" with hundreds of runs in flight, and was seen to
// stall for minutes after a client was killed mid-request). The bench and
// the soak use it.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/aciworker/aciworker/internal/freeport"
)

// Cluster is a running PostgreSQL server on a free loopback port.
type Cluster struct {
	// URL is the SQLAlchemy URL Prefect's PREFECT_API_DATABASE_CONNECTION_URL takes.
	URL string
	// Log is the server's log file.
	Log string

	dir  string
	cmd  *exec.Cmd
	done chan error
}

// Available reports whether the machine has PostgreSQL's server tools.
func Available() bool {
	_, err := tool("initdb")
	return err == nil
}

func tool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name); len(m) > 0 {
		return m[len(m)-1], nil
	}
	return "", fmt.Errorf("postgres: %s is neither on PATH nor in PostgreSQL's usual install directory", name)
}

// Start creates a cluster in a new temporary directory and starts it.
// PostgreSQL refuses to run as root, so as root the cluster belongs to the
// system's postgres user; its directory is then made in the shared
// temporary directory, because a caller's own temporary directories
// (t.TempDir's parents, for one) are often closed to other users.
func Start(ctx context.Context, maxConnections int) (_ *Cluster, err error) {
	initdb, err := tool("initdb")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "aciworker-pg-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("postgres: running as root needs a 'postgres' user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, d := range []string{dir, data, sock} {
			if err := os.Chown(d, uid, gid); err != nil {
				return nil, fmt.Errorf("postgres: chown %s: %w", d, err)
			}
		}
	}
	init := exec.CommandContext(ctx, initdb, "-D", data, "-U", "prefect", "--auth=trust", "-E", "UTF8")
	init.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var out bytes.Buffer
	init.Stdout, init.Stderr = &out, &out
	if err := init.Run(); err != nil {
		return nil, fmt.Errorf("postgres: initdb: %w\n%s", err, out.String())
	}
	port, err := freeport.Get()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		URL: fmt.Sprintf("postgresql+asyncpg://prefect@127.0.0.1:%d/postgres", port),
		Log: filepath.Join(dir, "postgres.log"),
		dir: dir, done: make(chan error, 1),
	}
	logf, err := os.Create(c.Log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	c.cmd = exec.Command(filepath.Join(filepath.Dir(initdb), "postgres"),
		"-D", data, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", sock,
		"-c", "max_connections="+strconv.Itoa(maxConnections), "-c", "fsync=off", "-c", "synchronous_commit=off")
	// Its own process group, so a signal to the caller's group does not
	// stop the database under the server that still needs it.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	if err := c.waitReady(ctx, port, time.Minute); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) waitReady(ctx context.Context, port int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case werr := <-c.done:
			c.done <- werr
			log, _ := os.ReadFile(c.Log)
			return fmt.Errorf("postgres exited before it listened (%v):\n%s", werr, log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not listen on %s within %s; see %s", addr, limit, c.Log)
		}
	}
}

// Stop shuts the server down (a fast shutdown, then a kill) and removes
// the cluster.
func (c *Cluster) Stop() error {
	var err error
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
			err = errors.New("postgres: killed after 15 s without shutting down")
		}
	}
	if rerr := os.RemoveAll(c.dir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}
