package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aciworker/aciworker/internal/prefectsettings"
)

// installPolicies are the values `prefect worker start --install-policy`
// takes; aciworker accepts them and installs nothing.
var installPolicies = []string{"always", "if-not-present", "never", "prompt"}

// startSettings are Prefect settings resolved the way Prefect reads them
// (environment, .env, prefect.toml, pyproject.toml, active profile).
type startSettings struct {
	resolved *prefectsettings.Settings
	deps     cmdDeps
}

// loadSettings resolves the settings; profile, when set (--profile),
// chooses the profile as PREFECT_PROFILE would.
func loadSettings(deps cmdDeps, profile string) (*startSettings, error) {
	var env []string
	if deps.environ != nil {
		env = deps.environ()
	}
	if profile != "" {
		env = append(env, "PREFECT_PROFILE="+profile)
	}
	s, err := prefectsettings.Load(prefectsettings.Options{Environ: env})
	if err != nil {
		return nil, err
	}
	return &startSettings{resolved: s, deps: deps}, nil
}

// getenv reads a resolved setting, else the command's own environment.
func (s *startSettings) getenv(name string) string {
	if v, _, ok := s.resolved.Lookup(name); ok {
		return v
	}
	return s.deps.getenv(name)
}

// environ is the environment handed to the worker: the process's, with
// the settings from files added so that flow-run containers get them, as
// Prefect's worker passes its current settings on.
func (s *startSettings) environ() []string {
	if s.deps.environ == nil {
		return os.Environ()
	}
	return s.resolved.Environ()
}

func (s *startSettings) log(l *slog.Logger) { s.resolved.LogSources(l) }

// cancellation reads PREFECT_WORKER_ENABLE_CANCELLATION and
// PREFECT_WORKER_CANCELLATION_POLL_SECONDS. Unlike Prefect 3.8, whose
// worker-side cancellation is off unless enabled, aciworker's is on unless
// disabled: the engine of a run still provisioning cannot stop its own
// container, which would run on and be billed. The poll seconds pace the
// search for Cancelling runs no watcher follows; unset, that search runs
// every polling interval (Prefect's 120 s default would leave a cancelled
// run's container running for minutes).
func cancellation(getenv func(string) string) (disable bool, poll time.Duration, err error) {
	const enable = "PREFECT_WORKER_ENABLE_CANCELLATION"
	if v := strings.TrimSpace(getenv(enable)); v != "" {
		on, err := parseBool(v)
		if err != nil {
			return false, 0, usageError("%s=%q: want true or false", enable, v)
		}
		disable = !on
	}
	poll, err = envSeconds(getenv, "PREFECT_WORKER_CANCELLATION_POLL_SECONDS", 0)
	return disable, poll, err
}

// parseBool reads a boolean the way pydantic does.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "t", "yes", "y", "on":
		return true, nil
	case "0", "false", "f", "no", "n", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", v)
}
