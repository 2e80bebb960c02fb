package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/aciworker/aciworker/internal/buildinfo"
)

// `aciworker version` and `aciworker --version` print the same line: the
// version, a commit, the build date and the Go version.
func TestVersionCommandAndFlag(t *testing.T) {
	t.Parallel()
	var outs []string
	for _, args := range [][]string{{"version"}, {"--version"}} {
		root := newRootCmd(processDeps())
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("aciworker %v: %v", args, err)
		}
		outs = append(outs, out.String())
	}
	if outs[0] != outs[1] {
		t.Errorf("version printed %q, --version printed %q", outs[0], outs[1])
	}
	info := buildinfo.Get()
	for _, want := range []string{"aciworker " + info.Version, "commit ", "built ", info.GoVersion} {
		if !strings.Contains(outs[0], want) {
			t.Errorf("version printed %q, missing %q", outs[0], want)
		}
	}
}

// The command tree is the explicit list in newRootCmd, built from the deps
// it is given, so a test's deps reach every command.
func TestRootCommands(t *testing.T) {
	t.Parallel()
	root := newRootCmd(cmdDeps{getenv: func(string) string { return "" }})
	var names []string
	for _, c := range root.Commands() {
		names = append(names, c.Name())
	}
	want := []string{"emulator", "run", "start", "template", "version"}
	if !slices.Equal(names, want) {
		t.Fatalf("commands %v, want %v", names, want)
	}
}
