// Command aciworker runs Prefect flow runs and one-off commands in Azure
// Container Instances, and serves a local emulator of the Azure APIs it uses.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	// Mozilla's root certificates, used only where the system has none
	// (the image holds no CA files): HTTPS to Azure and Prefect Cloud
	// works from an empty root file system.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/aciworker/aciworker/internal/buildinfo"
)

// exitError carries a process exit code up to main without printing twice.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError marks a bad flag or argument: exit code 2, like flag parsing.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// newRootCmd builds the command tree; every command takes what it needs
// from the process through deps, which tests replace.
func newRootCmd(deps cmdDeps) *cobra.Command {
	root := &cobra.Command{
		Use:           "aciworker",
		Short:         "Run Prefect flow runs and commands in Azure Container Instances",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Version turns on --version; the template prints what `aciworker
		// version` prints, computed only when asked (it may ask git).
		Version: buildinfo.Get().Version,
	}
	root.SetVersionTemplate("{{aciworkerVersion}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: 2, err: err}
	})
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), describeBuild())
		},
	})
	root.AddCommand(
		newStartCmd(deps, nil),
		newRunCmd(deps, nil),
		newEmulatorCmd(deps, nil),
		newTemplateCmd(),
	)
	return root
}

// cobra's template functions are process-wide: register once, not per
// root command (tests build many, in parallel).
func init() { cobra.AddTemplateFunc("aciworkerVersion", describeBuild) }

// describeBuild is the version line of `aciworker version` and --version.
func describeBuild() string { return buildinfo.Describe(context.Background()).String() }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRootCmd(processDeps())
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "aciworker:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "aciworker:", err)
	if isUsage(err) {
		return 2
	}
	return 1
}
