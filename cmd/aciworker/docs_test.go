package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// Every flag of start, run and emulator is named in the configuration
// reference, so the docs cannot fall behind the commands.
func TestEveryFlagDocumented(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	root := newRootCmd(processDeps())
	for _, name := range []string{"start", "run", "emulator"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil || cmd.Name() != name {
			t.Fatalf("no %s command: %v", name, err)
		}
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" {
				return
			}
			if !strings.Contains(doc, "`--"+f.Name) {
				t.Errorf("docs/configuration.md does not document %s --%s", name, f.Name)
			}
		})
	}
}
