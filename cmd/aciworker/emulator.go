package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/runtime"
)

// emulatorOptions is what the emulator's flags mean once checked.
type emulatorOptions struct {
	cfg            emulator.Config
	debug          bool
	logs           logFlags
	stdout, stderr io.Writer
	ctx            context.Context
}

// newEmulatorCmd builds `aciworker emulator`; runF, when set, receives the
// parsed options instead of the emulator being served.
func newEmulatorCmd(deps cmdDeps, runF func(*emulatorOptions) error) *cobra.Command {
	var (
		cfg       emulator.Config
		noThrottl bool
		failPulls []string
		debug     bool
		logs      logFlags
	)
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Serve a local emulator of Entra ID, ARM deployments and Azure Container Instances",
		Long: `Serve a local emulator of the Azure APIs aciworker uses (Entra ID token endpoint,
ARM resource groups and deployments, ACI container groups and logs) over HTTPS on
loopback. Containers run as local processes.

Once ready it prints KEY=VALUE lines (ACIWORKER_ARM_ENDPOINT, AZURE_AUTHORITY_HOST,
SSL_CERT_FILE, AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP) on stdout, then serves until SIGINT or
SIGTERM, and kills every container process it started before exiting.

Containers are processes on this host: whoever can create a container group here
runs commands on this machine. Keep --addr on loopback (it warns otherwise). The
admin API under /_emulator/ needs "Authorization: Bearer $AZURE_CLIENT_SECRET".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, f := range failPulls {
				img, msg, ok := strings.Cut(f, "=")
				if !ok || img == "" {
					return usageError("--image-fail-pull %q: want IMAGE=MESSAGE", f)
				}
				if msg == "" {
					msg = fmt.Sprintf("Failed to pull image %q: not found", img)
				}
				cfg.Images = append(cfg.Images, runtime.Image{Pattern: img, PullError: msg})
			}
			if cfg.MaxGroups < 0 || cfg.MaxCores < 0 {
				return usageError("--max-groups and --max-cores must not be negative (got %d and %d)", cfg.MaxGroups, cfg.MaxCores)
			}
			cfg.DisableThrottling = noThrottl
			o := &emulatorOptions{cfg: cfg, debug: debug, logs: logs, stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr(), ctx: cmd.Context()}
			if runF != nil {
				return runF(o)
			}
			return o.run(deps)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:0", "listen address (port 0 picks a free port)")
	f.StringArrayVar(&cfg.TLSNames, "tls-name", nil, "name for the server certificate (repeatable; default 127.0.0.1 and localhost)")
	f.StringVar(&cfg.StateDir, "state-dir", "", "directory for the CA certificate and container working directories (default: a temporary directory)")
	f.StringVar(&cfg.PrefectBin, "prefect-bin", "", "directory put first on PATH for prefecthq/prefect images")
	f.StringVar(&cfg.ContainerPath, "container-path", "", "PATH for containers (default: this process's PATH)")
	f.BoolVar(&noThrottl, "no-throttling", false, "turn off ARM request throttling")
	f.DurationVar(&cfg.LROPollHint, "lro-poll", 100*time.Millisecond, "poll interval suggested to clients on long-running operations (Retry-After-Ms)")
	f.DurationVar(&cfg.ProvisionDelay, "provision-delay", 0, "time a container group spends provisioning before its containers start")
	f.IntVar(&cfg.MaxGroups, "max-groups", 100, "container group quota per region")
	f.IntVar(&cfg.MaxCores, "max-cores", 100, "standard core quota per region")
	f.BoolVar(&cfg.AllowGPU, "allow-gpu", false, "accept GPU requests (retired in ACI; rejected by default)")
	f.StringArrayVar(&failPulls, "image-fail-pull", nil, "make pulls of IMAGE (a glob) fail with MESSAGE, as IMAGE=MESSAGE (repeatable)")
	f.DurationVar(&cfg.LogTimestampResolution, "log-timestamp-resolution", 0, "truncate container log timestamps to this resolution (0: nanoseconds)")
	f.BoolVar(&debug, "debug", false, "log every request (method, path, operation, status)")
	logs.register(f)
	return cmd
}

// run serves the emulator until the first SIGINT or SIGTERM.
func (o *emulatorOptions) run(deps cmdDeps) error {
	logger, err := o.logs.logger(o.stderr, deps.getenv, o.debug)
	if err != nil {
		return err
	}
	o.cfg.Logger = logger
	return o.logs.report(o.serve(deps))
}

func (o *emulatorOptions) serve(deps cmdDeps) error {
	cfg := o.cfg
	parent := o.ctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := deps.signalContext(parent)
	defer stop()
	emu, err := emulator.New(cfg)
	if err != nil {
		return err
	}
	out := o.stdout
	for _, line := range emu.Env() {
		if _, err := fmt.Fprintln(out, line); err != nil {
			_ = emu.Close()
			return fmt.Errorf("print settings: %w", err)
		}
	}
	if f, ok := out.(*os.File); ok {
		_ = f.Sync()
	}
	<-ctx.Done()
	cfg.Logger.Info("shutting down; killing container processes")
	if err := emu.Close(); err != nil {
		return fmt.Errorf("close emulator: %w", err)
	}
	return nil
}
