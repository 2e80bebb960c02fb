package buildinfo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/aciworker/aciworker", Version: "v0.0.0-20261203124426-656a910abcde+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "656a910abcdef0123456789abcdef0123456789a"},
			{Key: "vcs.time", Value: "2026-12-03T12:44:26Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	installed := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.4.0"}}
	devel := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}
	tests := []struct {
		name            string
		ldV, ldC, ldD   string
		bi              *debug.BuildInfo
		version, commit string
		dirty           bool
		date            string
	}{
		{"checkout build", "", "", "", vcs, "v0.0.0-20261203124426-656a910abcde+dirty", "656a910abcdef0123456789abcdef0123456789a", true, "2026-12-03T12:44:26Z"},
		{"go install at a tag", "", "", "", installed, "v1.4.0", "", false, ""},
		{"ldflags win", "v2.0.0", "0123abc-dirty", "2026-01-02T03:04:05Z", vcs, "v2.0.0", "0123abc", true, "2026-01-02T03:04:05Z"},
		{"ldflags clean commit", "v2.0.0", "0123abc", "", vcs, "v2.0.0", "0123abc", false, "2026-12-03T12:44:26Z"},
		{"nothing known", "", "", "", devel, "dev", "", false, ""},
		{"no build info", "", "", "", nil, "dev", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := resolve(tt.ldV, tt.ldC, tt.ldD, tt.bi)
			if got.Version != tt.version || got.Commit != tt.commit || got.Dirty != tt.dirty || got.Date != tt.date {
				t.Errorf("resolve = %+v, want version %q commit %q dirty %v date %q", got, tt.version, tt.commit, tt.dirty, tt.date)
			}
			if got.GoVersion == "" || got.Platform == "" {
				t.Errorf("resolve = %+v: Go version or platform missing", got)
			}
		})
	}
}

func TestStringNamesCommitAndDirtyMark(t *testing.T) {
	t.Parallel()
	i := Info{Version: "v1.0.0", Commit: "656a910abcdef", Dirty: true, Date: "2026-12-03T12:44:26Z", GoVersion: "go1.26.0", Platform: "linux/amd64"}
	s := i.String()
	for _, want := range []string{"v1.0.0", "656a910abcdef-dirty", "2026-12-03T12:44:26Z", "go1.26.0", "linux/amd64"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q, missing %q", s, want)
		}
	}
	if got := i.ShortCommit(); got != "656a910abcde-dirty" {
		t.Errorf("ShortCommit() = %q", got)
	}
}

func TestAzureApplicationIDFitsAzcoreLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		info Info
		want string
	}{
		{Info{Version: "v1.2.3", Commit: "656a910abcdef0123"}, "aciworker/v1.2.3"},
		{Info{Version: "v0.0.0-20261203124426-656a910abcde+dirty", Commit: "656a910abcdef0123456789"}, "aciworker/656a910abcdef0"},
		{Info{Version: "v0.0.0-20261203124426-656a910abcde"}, "aciworker"},
	}
	for _, tt := range tests {
		got := tt.info.AzureApplicationID()
		if got != tt.want || len(got) > maxApplicationID {
			t.Errorf("AzureApplicationID(%+v) = %q, want %q (≤ %d chars)", tt.info, got, tt.want, maxApplicationID)
		}
	}
}

// The test binary itself is a build: Get must never leave Version empty.
func TestGetHasVersion(t *testing.T) {
	t.Parallel()
	if Get().Version == "" || Get().GoVersion == "" {
		t.Fatalf("Get() = %+v", Get())
	}
}

func TestCheckoutCommit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		// CI clones with git, so there its absence is a broken machine.
		if os.Getenv("CI") != "" {
			t.Fatalf("git not installed under CI: %v", err)
		}
		t.Skip("git not installed (CI unset)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, ok := checkoutCommit(ctx, dir); ok {
		t.Fatal("a directory without go.mod gave a commit")
	}
	write("go.mod", "module example.com/other\n")
	run("init", "-q")
	run("add", ".")
	run("commit", "-q", "-m", "x")
	if _, _, ok := checkoutCommit(ctx, dir); ok {
		t.Fatal("another module's checkout gave a commit")
	}
	write("go.mod", "module "+modulePath+"\n\ngo 1.26\n")
	run("commit", "-q", "-am", "y")
	c, dirty, ok := checkoutCommit(ctx, dir)
	if !ok || len(c) != 40 || dirty {
		t.Fatalf("clean checkout: commit %q dirty %v ok %v", c, dirty, ok)
	}
	write("go.mod", "module "+modulePath+"\n\ngo 1.26.0\n")
	if c2, dirty, ok := checkoutCommit(ctx, dir); !ok || c2 != c || !dirty {
		t.Fatalf("modified checkout: commit %q dirty %v ok %v, want %q dirty", c2, dirty, ok, c)
	}
}
