package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aciworker/aciworker/emulator/emutest"
)

// `aciworker run` names the container group by its full ARM resource id,
// with the az commands that find it.
func TestRunPrintsResourceID(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t)
	r := runCommand(t, context.Background(), emu, "", nil, "--name", "findable", "--", "sh", "-c", "echo hi")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	s := emu.Settings()
	id := "/subscriptions/" + s.SubscriptionID + "/resourceGroups/" + s.ResourceGroup + "/providers/Microsoft.ContainerInstance/containerGroups/findable"
	for _, want := range []string{"container group " + id, "az container logs --ids " + id, "az container show --ids " + id} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// Every argument of `prefect worker start`, short forms included, parses;
// what aciworker cannot honour is refused by name. Nothing is started: a
// missing PREFECT_API_URL stops each accepted command right after parsing.
func TestStartAcceptsPrefectWorkerArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		wantErr string // "" means parsed and accepted; the run then stops at PREFECT_API_URL
	}{
		{[]string{"-p", "pool", "-n", "name", "-q", "a", "-q", "b", "-t", "azure-container-instance", "-l", "3"}, ""},
		{[]string{"--pool", "pool", "--name", "n", "--work-queue", "a", "--type", "azure-container-instance", "--limit", "3",
			"--prefetch-seconds", "5", "--run-once", "--with-healthcheck", "--install-policy", "prompt",
			"--base-job-template", "missing.json", "--create-pool-if-not-found"}, ""},
		{[]string{"--pool", "pool", "--install-policy", "always"}, ""},
		{[]string{"--pool", "pool", "--install-policy", "if-not-present"}, ""},
		{[]string{"--pool", "pool", "--install-policy", "never"}, ""},
		{[]string{"--pool", "pool", "--no-create-pool-if-not-found"}, ""},
		{[]string{"--pool", "pool", "--no-run-once", "--no-with-healthcheck", "--empty-work-queue", "--prompt", "--no-prompt"}, ""},
		// --profile picks the profile: this one's API URL is refused by name.
		{[]string{"--pool", "pool", "--profile", "broken"}, `PREFECT_API_URL) "ftp://nowhere" is not an http(s) URL`},
		{[]string{"--pool", "pool", "--install-policy", "sometimes"}, `--install-policy "sometimes"`},
		{[]string{"--pool", "pool", "--type", "kubernetes"}, `--type "kubernetes"`},
		{[]string{"--type", "azure-container-instance"}, "--pool is required"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			if err := os.MkdirAll(filepath.Join(home, ".prefect"), 0o755); err != nil {
				t.Fatal(err)
			}
			profiles := "active = \"empty\"\n[profiles.empty]\n[profiles.broken]\nPREFECT_API_URL = \"ftp://nowhere\"\n"
			if err := os.WriteFile(filepath.Join(home, ".prefect", "profiles.toml"), []byte(profiles), 0o600); err != nil {
				t.Fatal(err)
			}
			deps := cmdDeps{getenv: func(string) string { return "" }, environ: func() []string { return []string{"HOME=" + home} }}
			root := newRootCmd(deps)
			var out lockedBuffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(append([]string{"start"}, tc.args...))
			err := root.Execute()
			want := tc.wantErr
			if want == "" {
				want = "PREFECT_API_URL is not set"
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want one containing %q", err, want)
			}
		})
	}
}

func TestCancellationSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env         map[string]string
		wantDisable bool
		wantPoll    time.Duration
		wantErr     string
	}{
		{map[string]string{}, false, 0, ""},
		{map[string]string{"PREFECT_WORKER_ENABLE_CANCELLATION": "false"}, true, 0, ""},
		{map[string]string{"PREFECT_WORKER_ENABLE_CANCELLATION": "True", "PREFECT_WORKER_CANCELLATION_POLL_SECONDS": "2.5"}, false, 2500 * time.Millisecond, ""},
		{map[string]string{"PREFECT_WORKER_ENABLE_CANCELLATION": "maybe"}, false, 0, "PREFECT_WORKER_ENABLE_CANCELLATION"},
		{map[string]string{"PREFECT_WORKER_CANCELLATION_POLL_SECONDS": "soon"}, false, 0, "PREFECT_WORKER_CANCELLATION_POLL_SECONDS"},
	} {
		disable, poll, err := cancellation(func(k string) string { return tc.env[k] })
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: error %v, want one naming %s", tc.env, err, tc.wantErr)
			}
			continue
		}
		if err != nil || disable != tc.wantDisable || poll != tc.wantPoll {
			t.Errorf("%v: disable %v poll %v err %v, want %v %v", tc.env, disable, poll, err, tc.wantDisable, tc.wantPoll)
		}
	}
}
