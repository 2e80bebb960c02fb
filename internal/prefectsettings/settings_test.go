package prefectsettings

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// profiles writes a profiles.toml whose active profile is "work"; every
// other profile sets the same names to values that must never be read.
func profiles(t *testing.T, path string, work string) {
	write(t, path, `active = "work"

[profiles.default]
PREFECT_API_URL = "http://default/api"

[profiles.work]
`+work+`

[profiles.other]
PREFECT_API_URL = "http://other/api"
`)
}

func TestLoadOrder(t *testing.T) {
	t.Parallel()
	const name = "PREFECT_API_URL"
	type files struct{ env, dotenv, toml, pyproject, profile bool }
	tests := []struct {
		name string
		have files
		want Source
	}{
		{"environment beats everything", files{true, true, true, true, true}, SourceEnv},
		{".env beats the toml files and the profile", files{false, true, true, true, true}, SourceDotEnv},
		{"prefect.toml beats pyproject.toml and the profile", files{false, false, true, true, true}, SourceToml},
		{"pyproject.toml beats the profile", files{false, false, false, true, true}, SourcePyproject},
		{"the profile alone", files{false, false, false, false, true}, SourceProfile},
		{"nowhere", files{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, home := t.TempDir(), t.TempDir()
			var env []string
			if tc.have.env {
				env = append(env, name+"=http://env/api")
			}
			if tc.have.dotenv {
				write(t, filepath.Join(dir, ".env"), "# comment\nexport "+name+"='http://dotenv/api'\nOTHER=x\n")
			}
			if tc.have.toml {
				write(t, filepath.Join(dir, "prefect.toml"), "[api]\nurl = \"http://toml/api\"\n")
			}
			if tc.have.pyproject {
				write(t, filepath.Join(dir, "pyproject.toml"), "[project]\nname = \"x\"\n[tool.prefect.api]\nurl = \"http://pyproject/api\"\n")
			}
			if tc.have.profile {
				profiles(t, filepath.Join(home, ".prefect", "profiles.toml"), name+` = "http://profile/api"`)
			}
			s, err := Load(Options{Environ: env, Dir: dir, UserHome: home})
			if err != nil {
				t.Fatal(err)
			}
			v, src, ok := s.Lookup(name)
			if src != tc.want || ok != (tc.want != "") {
				t.Fatalf("source %q (found %v), want %q", src, ok, tc.want)
			}
			wantValue := map[Source]string{SourceEnv: "http://env/api", SourceDotEnv: "http://dotenv/api",
				SourceToml: "http://toml/api", SourcePyproject: "http://pyproject/api", SourceProfile: "http://profile/api"}[tc.want]
			if v != wantValue || s.Getenv(name) != wantValue {
				t.Fatalf("value %q / Getenv %q, want %q", v, s.Getenv(name), wantValue)
			}
		})
	}
}

func TestProfilesPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   []string
		setup func(t *testing.T, dir, home, other string) // writes the files
		want  string                                      // the API URL read
		prof  string                                      // the active profile
	}{
		{
			name: "PREFECT_PROFILES_PATH beats PREFECT_HOME and ~/.prefect",
			env:  []string{"PREFECT_PROFILES_PATH={other}/p.toml", "PREFECT_HOME={home}/ph"},
			setup: func(t *testing.T, dir, home, other string) {
				profiles(t, other+"/p.toml", `PREFECT_API_URL = "http://profiles-path/api"`)
				profiles(t, home+"/ph/profiles.toml", `PREFECT_API_URL = "http://prefect-home/api"`)
				profiles(t, home+"/.prefect/profiles.toml", `PREFECT_API_URL = "http://user-home/api"`)
			},
			want: "http://profiles-path/api", prof: "work",
		},
		{
			name: "PREFECT_PROFILES_PATH in .env",
			env:  []string{"PREFECT_HOME={home}/ph"},
			setup: func(t *testing.T, dir, home, other string) {
				write(t, dir+"/.env", "PREFECT_PROFILES_PATH="+other+"/p.toml\n")
				profiles(t, other+"/p.toml", `PREFECT_API_URL = "http://dotenv-path/api"`)
				profiles(t, home+"/ph/profiles.toml", `PREFECT_API_URL = "http://prefect-home/api"`)
			},
			want: "http://dotenv-path/api", prof: "work",
		},
		{
			name: "profiles_path in prefect.toml",
			setup: func(t *testing.T, dir, home, other string) {
				write(t, dir+"/prefect.toml", "profiles_path = \""+other+"/p.toml\"\n")
				profiles(t, other+"/p.toml", `PREFECT_API_URL = "http://toml-path/api"`)
				profiles(t, home+"/.prefect/profiles.toml", `PREFECT_API_URL = "http://user-home/api"`)
			},
			want: "http://toml-path/api", prof: "work",
		},
		{
			name: "PREFECT_HOME beats ~/.prefect",
			env:  []string{"PREFECT_HOME={home}/ph"},
			setup: func(t *testing.T, dir, home, other string) {
				profiles(t, home+"/ph/profiles.toml", `PREFECT_API_URL = "http://prefect-home/api"`)
				profiles(t, home+"/.prefect/profiles.toml", `PREFECT_API_URL = "http://user-home/api"`)
			},
			want: "http://prefect-home/api", prof: "work",
		},
		{
			name: "~/.prefect",
			setup: func(t *testing.T, dir, home, other string) {
				profiles(t, home+"/.prefect/profiles.toml", `PREFECT_API_URL = "http://user-home/api"`)
			},
			want: "http://user-home/api", prof: "work",
		},
		{
			name: "PREFECT_PROFILE beats active",
			env:  []string{"PREFECT_PROFILE=other"},
			setup: func(t *testing.T, dir, home, other string) {
				profiles(t, home+"/.prefect/profiles.toml", `PREFECT_API_URL = "http://work/api"`)
			},
			want: "http://other/api", prof: "other",
		},
		{
			name: "PREFECT_PROFILE in .env does not choose the profile",
			setup: func(t *testing.T, dir, home, other string) {
				write(t, dir+"/.env", "PREFECT_PROFILE=other\n")
				profiles(t, home+"/.prefect/profiles.toml", `PREFECT_API_URL = "http://work/api"`)
			},
			want: "http://work/api", prof: "work",
		},
		{
			name: "a profile the file does not hold gives nothing",
			env:  []string{"PREFECT_PROFILE=missing"},
			setup: func(t *testing.T, dir, home, other string) {
				profiles(t, home+"/.prefect/profiles.toml", `PREFECT_API_URL = "http://work/api"`)
			},
			want: "", prof: "",
		},
		{
			name:  "no profiles file",
			setup: func(t *testing.T, dir, home, other string) {},
			want:  "", prof: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, home, other := t.TempDir(), t.TempDir(), t.TempDir()
			tc.setup(t, dir, home, other)
			var env []string
			for _, kv := range tc.env {
				env = append(env, strings.NewReplacer("{home}", home, "{other}", other).Replace(kv))
			}
			s, err := Load(Options{Environ: env, Dir: dir, UserHome: home})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Getenv("PREFECT_API_URL"); got != tc.want {
				t.Fatalf("PREFECT_API_URL %q, want %q", got, tc.want)
			}
			if got, _ := s.Profile(); got != tc.prof {
				t.Fatalf("profile %q, want %q", got, tc.prof)
			}
		})
	}
}

func TestTomlValues(t *testing.T) {
	t.Parallel()
	dir, home := t.TempDir(), t.TempDir()
	write(t, filepath.Join(dir, "prefect.toml"), `
[worker]
heartbeat_seconds = 15
enable_cancellation = true
cancellation_poll_seconds = 2.5
[worker.webserver]
port = 8081
[client]
retry_extra_codes = [521, 520]
custom_headers = { X-Team = "data" }
`)
	profiles(t, filepath.Join(home, ".prefect", "profiles.toml"), "PREFECT_WORKER_QUERY_SECONDS = 3\nlowercase_ignored = \"x\"")
	s, err := Load(Options{Dir: dir, UserHome: home})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"PREFECT_WORKER_HEARTBEAT_SECONDS":         "15",
		"PREFECT_WORKER_ENABLE_CANCELLATION":       "true",
		"PREFECT_WORKER_CANCELLATION_POLL_SECONDS": "2.5",
		"PREFECT_WORKER_WEBSERVER_PORT":            "8081",
		"PREFECT_CLIENT_RETRY_EXTRA_CODES":         "520,521",
		"PREFECT_CLIENT_CUSTOM_HEADERS":            `{"X-Team":"data"}`,
		"PREFECT_WORKER_QUERY_SECONDS":             "3",
	} {
		if got := s.Getenv(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if _, _, ok := s.Lookup("PREFECT_LOWERCASE_IGNORED"); ok {
		t.Error("a lower-case profile key was read")
	}
}

func TestBadFilesNameTheFile(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"prefect.toml", "pyproject.toml"} {
		dir := t.TempDir()
		write(t, filepath.Join(dir, file), "[api\nurl = 1")
		_, err := Load(Options{Dir: dir, UserHome: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: error %v, want one naming the file", file, err)
		}
	}
	home := t.TempDir()
	write(t, filepath.Join(home, ".prefect", "profiles.toml"), "active = ")
	if _, err := Load(Options{Dir: t.TempDir(), UserHome: home}); err == nil || !strings.Contains(err.Error(), "profiles.toml") {
		t.Errorf("profiles.toml: error %v, want one naming the file", err)
	}
}

func TestEnvironAndGetenv(t *testing.T) {
	t.Parallel()
	dir, home := t.TempDir(), t.TempDir()
	profiles(t, filepath.Join(home, ".prefect", "profiles.toml"), `PREFECT_API_URL = "http://profile/api"
PREFECT_API_KEY = "pnu_profilesecret"`)
	s, err := Load(Options{Environ: []string{"PATH=/bin", "prefect_api_key=lower", "AZURE_CLIENT_ID=c"}, Dir: dir, UserHome: home})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Getenv("PREFECT_API_KEY"); got != "lower" {
		t.Errorf("a lower-case environment name should win over the profile, as in Prefect; got %q", got)
	}
	if s.Getenv("AZURE_CLIENT_ID") != "c" || s.Getenv("PATH") != "/bin" {
		t.Error("non-Prefect names must come from the environment")
	}
	env := s.Environ()
	for _, want := range []string{"PATH=/bin", "AZURE_CLIENT_ID=c", "PREFECT_API_URL=http://profile/api", "PREFECT_API_KEY=lower"} {
		if !slices.Contains(env, want) {
			t.Errorf("Environ lacks %s: %v", want, env)
		}
	}
	if slices.Contains(env, "prefect_api_key=lower") {
		t.Error("Environ keeps the lower-case duplicate")
	}

	var buf bytes.Buffer
	s.LogSources(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	out := buf.String()
	for _, want := range []string{"setting=PREFECT_API_URL", `source="profile \"work\""`, "setting=PREFECT_API_KEY source=environment"} {
		if !strings.Contains(out, want) {
			t.Errorf("the debug log lacks %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{"lower", "pnu_profilesecret", "http://profile/api"} {
		if strings.Contains(out, secret) {
			t.Errorf("the debug log shows a value (%s):\n%s", secret, out)
		}
	}
}
