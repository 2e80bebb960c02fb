// Package prefectsettings reads Prefect settings (PREFECT_*) from the places
// Prefect 3 reads them, in its order, so that a worker started where
// `prefect worker start` works finds the same API URL, key and worker
// settings.
//
// Prefect's order (prefect/settings/base.py, settings_customise_sources;
// first wins):
//
//  1. the environment;
//  2. `.env` in the working directory;
//  3. `prefect.toml` in the working directory (nested tables: [api] url);
//  4. `pyproject.toml` in the working directory, under [tool.prefect];
//  5. the active profile of profiles.toml: PREFECT_PROFILE, else the
//     file's `active`.
//
// profiles.toml is found (prefect/settings/sources.py, _get_profiles_path)
// through PREFECT_PROFILES_PATH in the environment, else in `.env`, else
// `profiles_path` in prefect.toml or pyproject.toml, else $PREFECT_HOME,
// else ~/.prefect.
//
// Loading is pure apart from reading those files: Load takes the
// environment and the directories as arguments.
package prefectsettings

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/joho/godotenv"
)

// Prefix is the prefix of every Prefect setting's environment name.
const Prefix = "PREFECT_"

// Options say where to look. Zero values take the process's own.
type Options struct {
	// Environ is the process environment (KEY=VALUE); nil means none.
	Environ []string
	// Dir is the working directory holding .env, prefect.toml and
	// pyproject.toml; "" means the current directory.
	Dir string
	// UserHome is the home directory for ~/.prefect; "" means $HOME of
	// Environ, else the user's.
	UserHome string
}

// Source names where a setting's value came from.
type Source string

// The sources, highest priority first.
const (
	SourceEnv       Source = "environment"
	SourceDotEnv    Source = ".env"
	SourceToml      Source = "prefect.toml"
	SourcePyproject Source = "pyproject.toml"
	SourceProfile   Source = "profile"
)

type entry struct {
	value  string
	source Source
}

// Settings are the resolved PREFECT_* settings plus the environment.
type Settings struct {
	env      map[string]string // the whole process environment, as given
	values   map[string]entry  // PREFECT_* settings, resolved
	profile  string            // the active profile's name ("" when none applies)
	profiles string            // the profiles.toml consulted ("" when none)
}

// Load resolves settings from opts. A file that exists but cannot be parsed
// is an error naming the file (Prefect refuses an invalid prefect.toml too,
// and warns about profiles.toml); missing files are simply absent.
func Load(opts Options) (*Settings, error) {
	s := &Settings{env: map[string]string{}, values: map[string]entry{}}
	envPrefect := map[string]string{}
	for _, kv := range opts.Environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		s.env[k] = v
		// Prefect matches environment names case-insensitively; the exact
		// upper-case spelling wins over another.
		if up := strings.ToUpper(k); strings.HasPrefix(up, Prefix) {
			if _, exact := envPrefect[up]; !exact || k == up {
				envPrefect[up] = v
			}
		}
	}
	dir := opts.Dir
	if dir == "" {
		dir = "."
	}

	dotenv, err := readDotEnv(filepath.Join(dir, ".env"))
	if err != nil {
		return nil, err
	}
	prefectToml, err := readTomlSettings(filepath.Join(dir, "prefect.toml"))
	if err != nil {
		return nil, err
	}
	pyproject, err := readTomlSettings(filepath.Join(dir, "pyproject.toml"), "tool", "prefect")
	if err != nil {
		return nil, err
	}

	home := opts.UserHome
	if home == "" {
		home = s.env["HOME"] // Python's Path.home() reads $HOME first
	}
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	s.profiles = profilesPath(envPrefect, dotenv, prefectToml, pyproject, dir, home)
	var profile map[string]string
	if s.profiles != "" {
		profile, s.profile, err = readProfile(s.profiles, envPrefect["PREFECT_PROFILE"])
		if err != nil {
			return nil, err
		}
	}

	// Lowest priority first, each later source overwriting.
	for _, layer := range []struct {
		values map[string]string
		source Source
	}{
		{profile, SourceProfile},
		{pyproject, SourcePyproject},
		{prefectToml, SourceToml},
		{dotenv, SourceDotEnv},
		{envPrefect, SourceEnv},
	} {
		for k, v := range layer.values {
			s.values[k] = entry{value: v, source: layer.source}
		}
	}
	return s, nil
}

// profilesPath follows _get_profiles_path. "" means no profiles file
// applies: Prefect then uses its bundled profiles, whose default
// (ephemeral) sets nothing a worker reads.
func profilesPath(env, dotenv, prefectToml, pyproject map[string]string, dir, home string) string {
	rel := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	for _, m := range []map[string]string{env, dotenv, prefectToml, pyproject} {
		if p := m["PREFECT_PROFILES_PATH"]; p != "" {
			return rel(expandHome(p, home))
		}
	}
	if h := env["PREFECT_HOME"]; h != "" {
		return filepath.Join(rel(expandHome(h, home)), "profiles.toml")
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".prefect", "profiles.toml")
}

func expandHome(p, home string) string {
	if home != "" && (p == "~" || strings.HasPrefix(p, "~/")) {
		return filepath.Join(home, p[1:])
	}
	return p
}

// readProfile returns the settings of the active profile: want when set,
// else the file's `active`. A profile the file does not hold gives none,
// as in Prefect (which then falls back to its bundled default).
func readProfile(path, want string) (map[string]string, string, error) {
	var doc map[string]any
	if _, err := toml.DecodeFile(path, &doc); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", nil
		}
		return nil, "", fmt.Errorf("profiles file %s: %w", path, err)
	}
	name := want
	if name == "" {
		name, _ = doc["active"].(string)
	}
	profiles, _ := doc["profiles"].(map[string]any)
	p, ok := profiles[name].(map[string]any)
	if name == "" || !ok {
		return nil, "", nil
	}
	out := map[string]string{}
	for k, v := range p {
		// Prefect looks profile keys up by their upper-case environment name.
		if k == strings.ToUpper(k) && strings.HasPrefix(k, Prefix) {
			out[k] = envValue(v)
		}
	}
	return out, name, nil
}

// readDotEnv reads the PREFECT_* names of a dotenv file (Prefect does not
// export .env into the environment, so other names are not settings).
func readDotEnv(path string) (map[string]string, error) {
	m, err := godotenv.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string]string{}
	for k, v := range m {
		if up := strings.ToUpper(k); strings.HasPrefix(up, Prefix) {
			out[up] = v
		}
	}
	return out, nil
}

// dictSettings are settings typed as a mapping: a TOML table there is the
// value itself, not a nested group of settings.
var dictSettings = map[string]bool{"PREFECT_CLIENT_CUSTOM_HEADERS": true}

// readTomlSettings reads a settings TOML file (under the table at header)
// and flattens it to environment names: [worker.webserver] port = 8080 is
// PREFECT_WORKER_WEBSERVER_PORT, as Prefect derives each nested setting's
// environment prefix from its path.
func readTomlSettings(path string, header ...string) (map[string]string, error) {
	var doc map[string]any
	if _, err := toml.DecodeFile(path, &doc); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("settings file %s: invalid TOML: %w", path, err)
	}
	for _, h := range header {
		doc, _ = doc[h].(map[string]any)
	}
	out := map[string]string{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			name := prefix + strings.ToUpper(k)
			if sub, ok := v.(map[string]any); ok && !dictSettings[name] {
				walk(name+"_", sub)
				continue
			}
			out[name] = envValue(v)
		}
	}
	walk(Prefix, doc)
	return out, nil
}

// envValue writes a TOML value the way Prefect turns a setting into an
// environment value: lists comma-joined in sorted order, tables as JSON.
func envValue(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = envValue(e)
		}
		sort.Strings(parts)
		return strings.Join(parts, ",")
	case map[string]any:
		b, _ := json.Marshal(t)
		return string(b)
	}
	return fmt.Sprint(v)
}

// Getenv reads a name: a PREFECT_* name through the resolved settings,
// any other name from the environment. It has os.Getenv's shape so that
// code reading settings need not know where they came from.
func (s *Settings) Getenv(name string) string {
	if strings.HasPrefix(name, Prefix) {
		return s.values[name].value
	}
	return s.env[name]
}

// Lookup returns a setting's value and where it came from.
func (s *Settings) Lookup(name string) (string, Source, bool) {
	e, ok := s.values[name]
	return e.value, e.source, ok
}

// Environ is the environment with every resolved PREFECT_* setting in it,
// so that whatever takes an environment (the containers of flow runs)
// sees the settings from files too, as Prefect's worker passes its
// current settings on.
func (s *Settings) Environ() []string {
	merged := maps.Clone(s.env)
	for k := range merged {
		if strings.HasPrefix(strings.ToUpper(k), Prefix) {
			delete(merged, k)
		}
	}
	for k, e := range s.values {
		merged[k] = e.value
	}
	out := make([]string, 0, len(merged))
	for _, k := range slices.Sorted(maps.Keys(merged)) {
		out = append(out, k+"="+merged[k])
	}
	return out
}

// Profile is the active profile's name and the profiles file it is in;
// both "" when no profile applies.
func (s *Settings) Profile() (name, path string) {
	if s.profile == "" {
		return "", ""
	}
	return s.profile, s.profiles
}

// LogSources says at debug level where each setting came from. Values are
// never logged: several settings are credentials.
func (s *Settings) LogSources(log *slog.Logger) {
	if name, path := s.Profile(); name != "" {
		log.Debug("Prefect profile", "profile", name, "path", path)
	}
	for _, k := range slices.Sorted(maps.Keys(s.values)) {
		src := string(s.values[k].source)
		if s.values[k].source == SourceProfile {
			src = fmt.Sprintf("profile %q", s.profile)
		}
		log.Debug("Prefect setting", "setting", k, "source", src)
	}
}
