// Package pyvenv provides the project-local Python virtualenv that holds the
// pinned Prefect release used as a real server, CLI and oracle in tests.
//
// The virtualenv lives at .venv in the repository root (git-ignored) and is
// created on first use from python/constraints.txt. ACIWORKER_TEST_VENV
// points at another one.
package pyvenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// Pins are what the virtualenv is built from; changing them rebuilds it.
const (
	PrefectPin      = "prefect==3.8.8"
	PrefectAzurePin = "prefect-azure==0.4.13"
)

var (
	once    sync.Once
	onceDir string
	onceErr error
)

// RepoRoot returns the directory holding go.mod, found upwards from the
// working directory (tests run in their package directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("pyvenv: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Ensure returns the virtualenv directory, creating or refreshing it when its
// pins changed. Concurrent test binaries serialise on a lock file.
func Ensure(ctx context.Context) (string, error) {
	once.Do(func() { onceDir, onceErr = ensure(ctx) })
	return onceDir, onceErr
}

func ensure(ctx context.Context) (string, error) {
	if dir := os.Getenv("ACIWORKER_TEST_VENV"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "bin", "prefect")); err != nil {
			return "", fmt.Errorf("pyvenv: ACIWORKER_TEST_VENV=%s has no bin/prefect: %w", dir, err)
		}
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	constraints := filepath.Join(root, "python", "constraints.txt")
	data, err := os.ReadFile(constraints)
	if err != nil {
		return "", fmt.Errorf("pyvenv: read constraints: %w", err)
	}
	sum := sha256.Sum256(append(data, []byte(PrefectPin+PrefectAzurePin)...))
	stamp := hex.EncodeToString(sum[:8])
	dir := filepath.Join(root, ".venv")
	stampFile := filepath.Join(dir, ".aciworker-stamp")

	lock, err := os.OpenFile(filepath.Join(root, ".venv.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("pyvenv: lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("pyvenv: lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck

	if got, err := os.ReadFile(stampFile); err == nil && string(got) == stamp {
		return dir, nil
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		return "", fmt.Errorf("pyvenv: python3 not found: %w", err)
	}
	steps := [][]string{
		{python, "-m", "venv", dir},
		{filepath.Join(dir, "bin", "pip"), "install", "-q", "--disable-pip-version-check",
			"-c", constraints, PrefectPin, PrefectAzurePin},
	}
	for _, argv := range steps {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("pyvenv: %v: %w\n%s", argv, err, out)
		}
	}
	if err := os.WriteFile(stampFile, []byte(stamp), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

// Require returns the virtualenv for a test. Without CI and without python3
// the test is skipped with the reason; under CI=true it must be available.
func Require(t testing.TB) string {
	t.Helper()
	if os.Getenv("CI") == "" {
		if _, err := exec.LookPath("python3"); err != nil && os.Getenv("ACIWORKER_TEST_VENV") == "" {
			t.Skip("python3 not found and CI unset: skipping a test that needs the Prefect virtualenv")
		}
	}
	dir, err := Ensure(context.Background())
	if err != nil {
		t.Fatalf("Prefect virtualenv: %v", err)
	}
	return dir
}
