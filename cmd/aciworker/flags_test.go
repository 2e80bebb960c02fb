package main

import (
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/emulator/runtime"
)

// parseWith runs a command built with a runF seam on args and returns what
// runF received, or the error the flags gave.
func parseWith[O any](t *testing.T, build func(func(*O) error) *cobra.Command, args []string, stdin string) (*O, error) {
	t.Helper()
	var got *O
	cmd := build(func(o *O) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.Execute()
	if err == nil && got == nil {
		t.Fatalf("%v: runF was not called", args)
	}
	return got, err
}

// flagCase is one command line: what its options must satisfy, or the
// usage error it must give.
type flagCase[O any] struct {
	args  []string
	stdin string
	check func(*O) bool
	err   string
}

// checkFlags runs each case through a command built with the runF seam.
func checkFlags[O any](t *testing.T, build func(func(*O) error) *cobra.Command, cases []flagCase[O]) {
	t.Helper()
	for _, tc := range cases {
		o, err := parseWith(t, build, tc.args, tc.stdin)
		if tc.err != "" {
			wantUsage(t, tc.args, err, tc.err)
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
		} else if !tc.check(o) {
			t.Errorf("%v: unexpected options %+v", tc.args, *o)
		}
	}
}

// wantUsage checks that err is a usage error (exit code 2) naming want:
// one of ours, or one of cobra's that main turns into 2.
func wantUsage(t *testing.T, args []string, err error, want string) {
	t.Helper()
	var ee *exitError
	usage := err != nil && (errors.As(err, &ee) && ee.code == 2 || isUsage(err))
	if !usage || !strings.Contains(err.Error(), want) {
		t.Fatalf("%v: error %v, want a usage error naming %q", args, err, want)
	}
}

func TestStartFlags(t *testing.T) {
	t.Parallel()
	deps := cmdDeps{getenv: func(string) string { return "" }}
	tests := []flagCase[startOptions]{
		{[]string{"--pool", "p"}, "", func(o *startOptions) bool {
			return o.pool == "p" && o.createPool && !o.runOnce && !o.healthcheck && o.prefetch == -1 && o.workerType == "azure-container-instance" && !o.installPolicySet
		}, ""},
		{[]string{"-p", "p", "-q", "a", "-q", "b", "-n", "w", "-l", "3"}, "", func(o *startOptions) bool {
			return slices.Equal(o.queues, []string{"a", "b"}) && o.name == "w" && o.limit == 3
		}, ""},
		{[]string{"--pool", "p", "-q", "a", "--empty-work-queue"}, "", func(o *startOptions) bool { return o.queues == nil }, ""},
		{[]string{"--pool", "p", "--no-create-pool-if-not-found"}, "", func(o *startOptions) bool { return !o.createPool }, ""},
		{[]string{"--pool", "p", "--run-once", "--no-run-once"}, "", func(o *startOptions) bool { return !o.runOnce }, ""},
		{[]string{"--pool", "p", "--with-healthcheck", "--no-with-healthcheck"}, "", func(o *startOptions) bool { return !o.healthcheck }, ""},
		{[]string{"--pool", "p", "--install-policy", "never", "--prefetch-seconds", "0"}, "", func(o *startOptions) bool {
			return o.installPolicySet && o.installPolicy == "never" && o.prefetch == 0
		}, ""},
		{[]string{"--pool", "p", "--profile", "dev", "--emulator", "--debug", "--log-format", "json"}, "", func(o *startOptions) bool {
			return o.profile == "dev" && o.emulator && o.debug && o.logs.format == "json"
		}, ""},
		{nil, "", nil, "--pool is required"},
		{[]string{"--pool", " "}, "", nil, "--pool is required"},
		{[]string{"--pool", "p", "--type", "process"}, "", nil, `--type "process"`},
		{[]string{"--pool", "p", "--limit", "-1"}, "", nil, "--limit -1"},
		{[]string{"--pool", "p", "--install-policy", "sometimes"}, "", nil, `--install-policy "sometimes"`},
		{[]string{"--pool", "p", "--limit", "x"}, "", nil, "--limit"},
		{[]string{"--pool", "p", "extra"}, "", nil, "extra"},
	}
	checkFlags(t, func(runF func(*startOptions) error) *cobra.Command { return newStartCmd(deps, runF) }, tests)
}

func TestRunFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{"FROM_HERE": "copied", "ACIWORKER_REGISTRY_PASSWORD": "env-pw"}
	deps := cmdDeps{getenv: func(k string) string { return env[k] }}
	tests := []flagCase[runOptions]{
		{[]string{"--", "echo", "hi"}, "", func(o *runOptions) bool {
			j := o.job
			return slices.Equal(j.Command, []string{"echo", "hi"}) && j.Image == aci.DefaultImage && j.CPU == aci.DefaultCPU &&
				strings.HasPrefix(j.GroupName, "aciworker-run-") && j.DeploymentName == aci.RunDeploymentName(j.GroupName) &&
				o.pollInterval == aci.DefaultPollInterval && !o.pollIntervalSet && !o.keep && !o.quiet
		}, ""},
		// Flags stop at the command: its own flags are its arguments.
		{[]string{"--cpu", "2", "echo", "--cpu", "3"}, "", func(o *runOptions) bool {
			return o.job.CPU == 2 && slices.Equal(o.job.Command, []string{"echo", "--cpu", "3"})
		}, ""},
		{[]string{"--name", "g1", "--image", "alpine:3", "--entrypoint", "", "--keep", "--quiet", "--poll-interval", "2s", "--start-timeout", "1m", "--", "true"}, "", func(o *runOptions) bool {
			return o.job.GroupName == "g1" && o.job.Image == "alpine:3" && o.job.Entrypoint == "" && o.keep && o.quiet &&
				o.pollInterval == 2*time.Second && o.pollIntervalSet && o.startTimeout == time.Minute
		}, ""},
		{[]string{"--env", "A=1", "--env", "FROM_HERE", "--secret-env", "S=2", "--", "true"}, "", func(o *runOptions) bool {
			got := map[string]aci.EnvVar{}
			for _, e := range o.job.Env {
				got[e.Name] = e
			}
			return got["A"].Value == "1" && !got["A"].Secret && got["FROM_HERE"].Value == "copied" && got["S"].Secret && got["S"].Value == "2"
		}, ""},
		{[]string{"--registry-server", "r.example", "--registry-username", "u", "--registry-password-stdin", "--", "true"}, "pw-from-stdin\n", func(o *runOptions) bool {
			return o.job.Registry != nil && o.job.Registry.Password == "pw-from-stdin"
		}, ""},
		{[]string{"--registry-server", "r.example", "--registry-username", "u", "--", "true"}, "", func(o *runOptions) bool {
			return o.job.Registry != nil && o.job.Registry.Password == "env-pw"
		}, ""},
		{[]string{"--subscription", "s", "--resource-group", "rg", "--emulator", "--", "true"}, "", func(o *runOptions) bool {
			return o.azure.subscription == "s" && o.azure.resourceGroup == "rg" && o.azure.emulator
		}, ""},
		{nil, "", nil, "a command is required"},
		{[]string{"--cpu", "0", "--", "true"}, "", nil, "--cpu"},
		{[]string{"--image", " ", "--", "true"}, "", nil, "--image"},
		{[]string{"--gpu-count", "1", "--", "true"}, "", nil, "--gpu-count 1: needs --gpu-sku"},
		{[]string{"--poll-interval", "0s", "--", "true"}, "", nil, "--poll-interval"},
		{[]string{"--registry-password-stdin", "--registry-password", "x", "--registry-server", "r", "--", "true"}, "", nil, "--registry-password-stdin"},
		{[]string{"--log-format", "xml", "--", "true"}, "", nil, "--log-format"},
	}
	checkFlags(t, func(runF func(*runOptions) error) *cobra.Command { return newRunCmd(deps, runF) }, tests)
}

func TestEmulatorFlags(t *testing.T) {
	t.Parallel()
	deps := cmdDeps{getenv: func(string) string { return "" }}
	tests := []flagCase[emulatorOptions]{
		{nil, "", func(o *emulatorOptions) bool {
			c := o.cfg
			return c.Addr == "127.0.0.1:0" && c.MaxGroups == 100 && c.MaxCores == 100 && !c.DisableThrottling && !c.AllowGPU &&
				c.LROPollHint == 100*time.Millisecond && len(c.Images) == 0
		}, ""},
		{[]string{"--addr", "127.0.0.1:8443", "--tls-name", "a", "--tls-name", "b", "--no-throttling", "--allow-gpu", "--max-groups", "3", "--provision-delay", "2s", "--debug"}, "", func(o *emulatorOptions) bool {
			c := o.cfg
			return c.Addr == "127.0.0.1:8443" && slices.Equal(c.TLSNames, []string{"a", "b"}) && c.DisableThrottling && c.AllowGPU &&
				c.MaxGroups == 3 && c.ProvisionDelay == 2*time.Second && o.debug
		}, ""},
		{[]string{"--image-fail-pull", "bad/*=denied", "--image-fail-pull", "gone:1="}, "", func(o *emulatorOptions) bool {
			return reflect.DeepEqual(o.cfg.Images, []runtime.Image{
				{Pattern: "bad/*", PullError: "denied"},
				{Pattern: "gone:1", PullError: `Failed to pull image "gone:1": not found`},
			})
		}, ""},
		{[]string{"--image-fail-pull", "no-message"}, "", nil, "--image-fail-pull"},
		{[]string{"--max-cores", "-1"}, "", nil, "must not be negative"},
	}
	checkFlags(t, func(runF func(*emulatorOptions) error) *cobra.Command { return newEmulatorCmd(deps, runF) }, tests)
}
