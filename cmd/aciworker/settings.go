package main

import (
	"log/slog"
	"os"

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

func loadSettings(deps cmdDeps) (*startSettings, error) {
	var env []string
	if deps.environ != nil {
		env = deps.environ()
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
