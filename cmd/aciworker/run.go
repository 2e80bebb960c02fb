package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/internal/logging"
	"github.com/aciworker/aciworker/prefectaci"
)

// emulatorPollInterval replaces the 5 s default with --emulator, where
// containers start at once and Azure's pace does not apply.
const emulatorPollInterval = 250 * time.Millisecond

type runFlags struct {
	azure             azureFlags
	image             string
	cpu, memory       float64
	gpuCount          int
	gpuSKU            string
	env, secretEnv    []string
	entrypoint        string
	identities        []string
	registryIdentity  string
	registryServer    string
	registryUser      string
	registryPassword  string
	registryPassStdin bool
	subnets           []string
	dnsServers        []string
	location          string
	keep              bool
	startTimeout      time.Duration
	pollInterval      time.Duration
	name              string
	armTemplate       string
	quiet             bool
	logs              logFlags
}

// runOptions is what run's flags and arguments mean once checked: the job
// to run, and how; with the command's I/O and its logger.
type runOptions struct {
	runFlags
	job             aci.Job
	pollIntervalSet bool
	stdout, stderr  io.Writer
	ctx             context.Context
	logger          *slog.Logger
}

// newRunCmd builds `aciworker run`; runF, when set, receives the parsed
// options instead of the job being run.
func newRunCmd(deps cmdDeps, runF func(*runOptions) error) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARG...]",
		Short: "Run one command in Azure Container Instances, stream its output, exit with its exit code",
		Long: `Run one command in a new Azure Container Instances container group, stream its
output to stdout as it is produced, and exit with the container's exit code.
Progress goes to stderr. The container group is deleted afterwards (stopped and
kept with --keep) and so is the ARM deployment record. Ctrl-C or SIGTERM cleans
up and exits 130 or 143; a second one exits at once and says what may be left.

Secrets (--secret-env, the registry password) reach the container as secure
values; they are never written into the ARM template or printed.`,
		Example: `  aciworker run --emulator -- echo hello
  aciworker run --resource-group my-rg --cpu 2 --memory 4 --env MODE=batch -- python job.py
  aciworker run --image alpine:3 --entrypoint "" --secret-env TOKEN -- sh -c 'use-token'`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(cmd, args, deps)
			if err == nil && runF != nil {
				return runF(o)
			}
			if err == nil {
				err = o.execute(deps)
			}
			// The logger is built first: even a bad flag is reported as
			// the logs are (JSON records with --log-format json).
			return f.logs.report(err)
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	f.azure.register(fs)
	fs.StringVar(&f.image, "image", aci.DefaultImage, "container image")
	fs.Float64Var(&f.cpu, "cpu", aci.DefaultCPU, "virtual CPUs")
	fs.Float64Var(&f.memory, "memory", aci.DefaultMemoryGB, "memory in GB")
	fs.IntVar(&f.gpuCount, "gpu-count", 0, "GPUs (1, 2 or 4; Azure retired ACI GPUs in July 2025)")
	fs.StringVar(&f.gpuSKU, "gpu-sku", "", "GPU SKU: K80, P100 or V100")
	fs.StringArrayVar(&f.env, "env", nil, "environment variable NAME=VALUE, or NAME to copy it from here (repeatable)")
	fs.StringArrayVar(&f.secretEnv, "secret-env", nil, "secret environment variable NAME=VALUE, or NAME to copy it from here; sent as a secure value (repeatable)")
	fs.StringVar(&f.entrypoint, "entrypoint", aci.DefaultEntrypoint, `put in front of the command, as Prefect images need; "" for none`)
	fs.StringArrayVar(&f.identities, "identity", nil, "user-assigned managed identity resource id for the group (repeatable)")
	fs.StringVar(&f.registryIdentity, "registry-identity", "", "pull from a private registry with a managed identity: SERVER=IDENTITY")
	fs.StringVar(&f.registryServer, "registry-server", "", "private registry server, e.g. myregistry.azurecr.io")
	fs.StringVar(&f.registryUser, "registry-username", "", "private registry username")
	fs.StringVar(&f.registryPassword, "registry-password", "", "private registry password (better: --registry-password-stdin or $ACIWORKER_REGISTRY_PASSWORD)")
	fs.BoolVar(&f.registryPassStdin, "registry-password-stdin", false, "read the registry password from stdin")
	fs.StringArrayVar(&f.subnets, "subnet-id", nil, "subnet resource id to put the group in (repeatable)")
	fs.StringArrayVar(&f.dnsServers, "dns-server", nil, "DNS server IP address (repeatable)")
	fs.StringVar(&f.location, "location", "", "Azure region (default: the resource group's)")
	fs.BoolVar(&f.keep, "keep", false, "stop the container group when done instead of deleting it")
	fs.DurationVar(&f.startTimeout, "start-timeout", aci.DefaultStartTimeout, "give up when the container has not started after this long")
	fs.DurationVar(&f.pollInterval, "poll-interval", aci.DefaultPollInterval, "how often to read the group and its output (default 250ms with --emulator)")
	fs.StringVar(&f.name, "name", "", `container group name (default "aciworker-run-" and random hex)`)
	fs.StringVar(&f.armTemplate, "arm-template", "", "custom ARM template file in the work pool's {{ }} form (a bare template or a base job template)")
	fs.BoolVar(&f.quiet, "quiet", false, "do not stream the container's output")
	f.logs.register(fs)
	return cmd
}

// signalCause records which signal ended a run, for its exit code.
type signalCause struct{ sig os.Signal }

func (s signalCause) Error() string { return "received " + s.sig.String() }

// options builds the logger, then checks the flags into the job to run.
func (f *runFlags) options(cmd *cobra.Command, args []string, deps cmdDeps) (*runOptions, error) {
	logger, err := f.logs.logger(cmd.ErrOrStderr(), deps.getenv, false)
	if err != nil {
		return nil, err
	}
	job, err := f.job(cmd.InOrStdin(), args, deps)
	if err != nil {
		return nil, err
	}
	if _, err := aci.Prepare(job); err != nil {
		return nil, usageError("invalid run: %v", aci.NewRedactor(secretsOf(job)...).Error(err))
	}
	return &runOptions{runFlags: *f, job: job, pollIntervalSet: cmd.Flags().Changed("poll-interval"),
		stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr(), ctx: cmd.Context(), logger: logger.With("group", job.GroupName)}, nil
}

func (f *runOptions) execute(deps cmdDeps) error {
	stdout, stderr, logger, job := f.stdout, f.stderr, f.logger, f.job
	if f.logs.json {
		// Progress lines become records, so stderr is JSON throughout.
		lw := logging.NewLineWriter(logger, slog.LevelInfo, "aciworker: ")
		defer lw.Flush()
		stderr = lw
	}
	if f.gpuCount > 0 {
		fmt.Fprintln(stderr, "aciworker: warning: Azure retired GPU container groups on 14 July 2025; the GPU request is passed on, but Azure will most likely reject it")
	}

	parent := f.ctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)

	conn, err := f.azure.connect(ctx, deps)
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: canceledExitCode(ctx), err: aci.ErrCanceled}
		}
		return err
	}
	defer conn.Close()
	stopSignals := deps.watchSignals(stderr, func(s os.Signal) {
		fmt.Fprintf(stderr, "aciworker: received %s; cleaning up (a second signal exits at once)\n", s)
		cancel(signalCause{s})
	}, func() string {
		return aci.LeftBehind(conn.resourceGroup, job.GroupName, job.DeploymentName)
	})
	defer stopSignals()
	poll := f.pollInterval
	if conn.emulated && !f.pollIntervalSet {
		poll = emulatorPollInterval
	}
	code, err := aci.Run(ctx, conn.client, conn.resourceGroup, job, aci.RunOptions{
		Stdout:       stdout,
		Stderr:       stderr,
		Quiet:        f.quiet,
		Keep:         f.keep,
		StartTimeout: f.startTimeout,
		PollInterval: poll,
		Logger:       logger,
	})
	if err != nil {
		if errors.Is(err, aci.ErrCanceled) {
			return &exitError{code: canceledExitCode(ctx), err: err}
		}
		if errors.Is(err, aci.ErrReported) {
			return &exitError{code: 1} // on stderr already, before the clean-up's messages
		}
		return &exitError{code: 1, err: err}
	}
	if code < 0 || code > 255 {
		return &exitError{code: 1, err: fmt.Errorf("container exit code %d is outside 0-255", code)}
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// canceledExitCode follows the shell convention, 128 + signal number.
func canceledExitCode(ctx context.Context) int {
	var sc signalCause
	if errors.As(context.Cause(ctx), &sc) {
		return signalExitCode(sc.sig)
	}
	return signalExitCode(syscall.SIGINT)
}

// job builds the aci.Job from flags; every bad value is a usage error
// naming the flag.
func (f *runFlags) job(stdin io.Reader, args []string, deps cmdDeps) (aci.Job, error) {
	group := f.name
	if group == "" {
		group = aci.NewRunGroupName()
	}
	job := aci.Job{
		GroupName:      group,
		DeploymentName: aci.RunDeploymentName(group),
		Image:          f.image,
		Entrypoint:     f.entrypoint,
		Command:        args,
		CPU:            f.cpu,
		MemoryGB:       f.memory,
		GPUCount:       f.gpuCount,
		GPUSKU:         f.gpuSKU,
		Identities:     f.identities,
		SubnetIDs:      f.subnets,
		DNSServers:     f.dnsServers,
		Location:       f.location,
		Tags:           map[string]string{"aciworker": "run"},
	}
	if len(args) == 0 {
		return job, usageError("a command is required: aciworker run [flags] -- COMMAND [ARG...]")
	}
	if strings.TrimSpace(f.image) == "" {
		return job, usageError("--image %q: give an image", f.image)
	}
	if err := aci.ValidateCPU(f.cpu); err != nil {
		return job, usageError("--cpu %v: %v", f.cpu, err)
	}
	if err := aci.ValidateMemory(f.memory); err != nil {
		return job, usageError("--memory %v: %v", f.memory, err)
	}
	if f.gpuCount < 0 || f.gpuCount > 0 && f.gpuSKU == "" {
		return job, usageError("--gpu-count %d: needs --gpu-sku (K80, P100 or V100)", f.gpuCount)
	}
	if f.gpuSKU != "" && f.gpuCount == 0 {
		return job, usageError("--gpu-sku %q: needs --gpu-count", f.gpuSKU)
	}
	if f.startTimeout <= 0 {
		return job, usageError("--start-timeout %v: must be positive", f.startTimeout)
	}
	if f.pollInterval <= 0 {
		return job, usageError("--poll-interval %v: must be positive", f.pollInterval)
	}
	if f.name != "" {
		if err := aci.ValidateGroupName(f.name); err != nil {
			return job, usageError("--name %q: %v", f.name, err)
		}
		if err := aci.ValidateDeploymentName(aci.RunDeploymentName(f.name)); err != nil {
			return job, usageError("--name %q is too long: at most %d characters", f.name, 64-len(aci.RunPrefix))
		}
	}
	for _, kv := range f.env {
		e, err := parseEnv("--env", kv, false, deps)
		if err != nil {
			return job, err
		}
		job.Env = append(job.Env, e)
	}
	for _, kv := range f.secretEnv {
		e, err := parseEnv("--secret-env", kv, true, deps)
		if err != nil {
			return job, err
		}
		job.Env = append(job.Env, e)
	}
	reg, err := f.registry(stdin, deps)
	if err != nil {
		return job, err
	}
	job.Registry = reg
	if f.armTemplate != "" {
		t, err := loadARMTemplate(f.armTemplate)
		if err != nil {
			return job, usageError("--arm-template %s: %v", f.armTemplate, err)
		}
		if job.Template, err = prefectaci.RenderTemplate(t, job); err != nil {
			return job, usageError("--arm-template %s: %v", f.armTemplate, err)
		}
	} else if job.Template, err = prefectaci.DefaultTemplate(job); err != nil {
		return job, err
	}
	return job, nil
}

// parseEnv reads NAME=VALUE, or NAME alone to copy the variable from this
// process (which keeps a secret off the command line).
func parseEnv(flag, kv string, secret bool, deps cmdDeps) (aci.EnvVar, error) {
	name, value, ok := strings.Cut(kv, "=")
	shown := kv
	if secret {
		shown = name + "=..."
	}
	if !ok {
		value = deps.getenv(name)
		if value == "" {
			return aci.EnvVar{}, usageError("%s %s: give NAME=VALUE, or NAME of a variable set here", flag, shown)
		}
	}
	if err := aci.ValidateEnvName(name); err != nil {
		return aci.EnvVar{}, usageError("%s %s: %v", flag, shown, err)
	}
	// Prefect's credentials are secure values however they are passed.
	return aci.EnvVar{Name: name, Value: value, Secret: secret || prefectaci.IsSecretEnvName(name)}, nil
}

func (f *runFlags) registry(stdin io.Reader, deps cmdDeps) (*aci.Registry, error) {
	password := f.registryPassword
	if f.registryPassStdin {
		if password != "" {
			return nil, usageError("--registry-password-stdin: --registry-password is also given; use one")
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, usageError("--registry-password-stdin: reading stdin: %v", err)
		}
		password = strings.TrimRight(line, "\r\n")
		if password == "" {
			return nil, usageError("--registry-password-stdin: stdin held no password")
		}
	}
	if password == "" {
		password = deps.getenv("ACIWORKER_REGISTRY_PASSWORD")
	}
	if f.registryIdentity != "" {
		if f.registryServer != "" || f.registryUser != "" || f.registryPassword != "" || f.registryPassStdin {
			return nil, usageError("--registry-identity: do not combine with --registry-server/--registry-username/--registry-password")
		}
		server, id, ok := strings.Cut(f.registryIdentity, "=")
		if !ok || server == "" || id == "" {
			return nil, usageError("--registry-identity %q: give SERVER=IDENTITY", f.registryIdentity)
		}
		return &aci.Registry{Server: server, Identity: id}, nil
	}
	if f.registryServer == "" {
		if f.registryUser != "" || f.registryPassword != "" || f.registryPassStdin {
			return nil, usageError("--registry-server is required with --registry-username and --registry-password")
		}
		return nil, nil
	}
	if f.registryUser == "" {
		return nil, usageError("--registry-server %s: --registry-username is required", f.registryServer)
	}
	if password == "" {
		return nil, usageError("--registry-server %s: a password is required (--registry-password, --registry-password-stdin or $ACIWORKER_REGISTRY_PASSWORD)", f.registryServer)
	}
	return &aci.Registry{Server: f.registryServer, Username: f.registryUser, Password: password}, nil
}

// loadARMTemplate reads an ARM template, or the arm_template of a base job
// template, keeping numbers as written.
func loadARMTemplate(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if jc, ok := m["job_configuration"].(map[string]any); ok {
		t, ok := jc["arm_template"].(map[string]any)
		if !ok {
			return nil, errors.New("job_configuration.arm_template is missing")
		}
		return t, nil
	}
	return m, nil
}

func secretsOf(job aci.Job) []string {
	var s []string
	for _, e := range job.Env {
		if e.Secret {
			s = append(s, e.Value)
		}
	}
	if job.Registry != nil {
		s = append(s, job.Registry.Password)
	}
	return s
}
