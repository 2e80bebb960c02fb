package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/spf13/pflag"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/emulator"
)

// cmdDeps are what a command takes from its process; tests replace them.
type cmdDeps struct {
	getenv func(string) string
	// environ lists the process environment, so that Prefect settings can
	// be resolved against .env, prefect.toml and profiles; nil: getenv only.
	environ func() []string
	// transport, when set, replaces the SDK's HTTP client (tests use the
	// emulator's client, which trusts its certificate).
	transport policy.Transporter
	// signals delivers SIGINT and SIGTERM (nil: the process's); exit ends
	// the process (nil: os.Exit).
	signals func() (<-chan os.Signal, func())
	exit    func(code int)
}

func processDeps() cmdDeps { return cmdDeps{getenv: os.Getenv, environ: os.Environ} }

// azureFlags are the Azure settings that run and start share.
type azureFlags struct {
	subscription  string
	resourceGroup string
	emulator      bool
}

func (f *azureFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.subscription, "subscription", "", "Azure subscription id (default $AZURE_SUBSCRIPTION_ID)")
	fs.StringVar(&f.resourceGroup, "resource-group", "", "resource group to run in (default $AZURE_RESOURCE_GROUP)")
	fs.BoolVar(&f.emulator, "emulator", false, "start the local Azure emulator in this process and use it instead of Azure")
}

// azureConn is a connection to Azure, or to an in-process emulator.
type azureConn struct {
	settings      aci.Settings
	subscription  string
	resourceGroup string
	client        *aci.Client
	emulated      bool
	closeFn       func() error
}

func (c *azureConn) Close() error {
	if c.closeFn == nil {
		return nil
	}
	return c.closeFn()
}

// emulatorBackend is an in-process emulator and the settings pointing at
// it.
type emulatorBackend struct {
	settings                    aci.Settings
	subscription, resourceGroup string
	close                       func() error
}

// startEmbeddedEmulator starts the emulator in this process. Containers of
// prefecthq/prefect images find $ACIWORKER_PREFECT_BIN first on their PATH.
func startEmbeddedEmulator(deps cmdDeps) (*emulatorBackend, error) {
	emu, err := emulator.New(emulator.Config{
		PrefectBin: prefectBin(deps.getenv),
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	es := emu.Settings()
	return &emulatorBackend{
		settings: aci.Settings{
			ARMEndpoint:   emu.URL(),
			AuthorityHost: emu.AuthorityHost(),
			TenantID:      es.TenantID,
			ClientID:      es.ClientID,
			ClientSecret:  es.ClientSecret,
			Transport:     emu.Client(),
		},
		subscription:  es.SubscriptionID,
		resourceGroup: es.ResourceGroup,
		close:         emu.Close,
	}, nil
}

// prefectBin is the directory the embedded emulator puts first on the PATH of
// Prefect-image containers: $ACIWORKER_PREFECT_BIN, else the directory of the
// prefect found on this PATH, so that a machine with Prefect installed runs
// stock pools on the emulator without further set-up.
func prefectBin(getenv func(string) string) string {
	if dir := getenv("ACIWORKER_PREFECT_BIN"); dir != "" {
		return dir
	}
	if p, err := exec.LookPath("prefect"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// connect resolves settings from flags, environment or the emulator, and
// builds the Azure client. Missing settings are usage errors.
func (f *azureFlags) connect(ctx context.Context, deps cmdDeps) (*azureConn, error) {
	conn := &azureConn{}
	if f.emulator {
		emu, err := startEmbeddedEmulator(deps)
		if err != nil {
			return nil, fmt.Errorf("start the emulator: %w", err)
		}
		conn.settings, conn.emulated, conn.closeFn = emu.settings, true, emu.close
		conn.subscription, conn.resourceGroup = emu.subscription, emu.resourceGroup
	} else {
		conn.settings = aci.SettingsFromEnv(deps.getenv)
		conn.settings.Transport = deps.transport
		conn.subscription = deps.getenv("AZURE_SUBSCRIPTION_ID")
		conn.resourceGroup = deps.getenv("AZURE_RESOURCE_GROUP")
	}
	if f.subscription != "" {
		conn.subscription = f.subscription
	}
	if f.resourceGroup != "" {
		conn.resourceGroup = f.resourceGroup
	}
	fail := func(err error) (*azureConn, error) {
		conn.Close()
		return nil, err
	}
	if conn.subscription == "" {
		return fail(usageError("--subscription is required (or set AZURE_SUBSCRIPTION_ID)"))
	}
	if conn.resourceGroup == "" {
		return fail(usageError("--resource-group is required (or set AZURE_RESOURCE_GROUP)"))
	}
	if err := conn.settings.Validate(); err != nil {
		return fail(usageError("Azure settings: %v", err))
	}
	cred, err := conn.settings.Credential()
	if err != nil {
		return fail(err)
	}
	// A token first: nothing is deployed, so nothing needs cleaning up,
	// when the credentials cannot work.
	if err := conn.settings.CheckCredential(ctx, cred); err != nil {
		return fail(err)
	}
	client, err := aci.NewClient(conn.subscription, cred, conn.settings)
	if err != nil {
		return fail(err)
	}
	conn.client = client
	return conn, nil
}
