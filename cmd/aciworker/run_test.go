package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/emutest"
	"github.com/aciworker/aciworker/prefectaci"
)

// lockedBuffer lets a test watch output while the command writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	on func(string)
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	n, err := l.b.Write(p)
	s := l.b.String()
	l.mu.Unlock()
	if l.on != nil {
		l.on(s)
	}
	return n, err
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func emuEnv(emu *emulator.Emulator) map[string]string {
	m := map[string]string{}
	for _, kv := range emu.Env() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

type cmdResult struct {
	code           int
	stdout, stderr string
}

// runCommand runs `aciworker run ARGS` in-process against emu, exactly as
// main does, and returns the exit code main would return.
func runCommand(t *testing.T, ctx context.Context, emu *emulator.Emulator, stdin string, stdout *lockedBuffer, args ...string) cmdResult {
	t.Helper()
	env := emuEnv(emu)
	deps := cmdDeps{getenv: func(k string) string { return env[k] }, transport: emu.Client()}
	return runCommandWith(t, ctx, deps, stdin, stdout, nil, args...)
}

// runCommandWith runs `aciworker run ARGS` with deps; stderr, when given,
// is where the command writes its progress.
func runCommandWith(t *testing.T, ctx context.Context, deps cmdDeps, stdin string, stdout, stderrOut *lockedBuffer, args ...string) cmdResult {
	t.Helper()
	root := newRootCmd(deps)
	if stdout == nil {
		stdout = &lockedBuffer{}
	}
	stderr := stderrOut
	if stderr == nil {
		stderr = &lockedBuffer{}
	}
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(append([]string{"run"}, args...))
	err := root.ExecuteContext(ctx)
	code := 0
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
		if ee.err != nil {
			fmt.Fprintln(stderr, "aciworker:", ee.err)
		}
	case isUsage(err):
		code = 2
		fmt.Fprintln(stderr, "aciworker:", err)
	default:
		code = 1
		fmt.Fprintln(stderr, "aciworker:", err)
	}
	return cmdResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

const testIdentity = "/subscriptions/6d1e9b3c-2a7f-4e58-b0c4-7f3a9d2e1c65/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/runner"

func groupsClient(t *testing.T, emu *emulator.Emulator) *armcontainerinstance.ContainerGroupsClient {
	t.Helper()
	s := aci.SettingsFromEnv(func(k string) string { return emuEnv(emu)[k] })
	s.Transport = emu.Client()
	cred, err := s.Credential()
	if err != nil {
		t.Fatal(err)
	}
	gc, err := armcontainerinstance.NewContainerGroupsClient(emu.Settings().SubscriptionID, cred, &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Cloud: s.Cloud(), Transport: emu.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	return gc
}

// view is the read-back group as generic JSON, for short checks.
type view map[string]any

func (v view) get(path ...any) any {
	var cur any = map[string]any(v)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := cur.(map[string]any)
			cur = m[k]
		case int:
			a, _ := cur.([]any)
			if k >= len(a) {
				return nil
			}
			cur = a[k]
		}
	}
	return cur
}

func (v view) container(path ...any) any {
	return v.get(append([]any{"properties", "containers", 0, "properties"}, path...)...)
}

func (v view) env() map[string]map[string]any {
	out := map[string]map[string]any{}
	list, _ := v.container("environmentVariables").([]any)
	for _, e := range list {
		m := e.(map[string]any)
		out[m["name"].(string)] = m
	}
	return out
}

func TestRunFlagsVisibleOnGroup(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t, func(c *emulator.Config) { c.AllowGPU = true })
	gc := groupsClient(t, emu)
	dir := t.TempDir()
	tmplPath := filepath.Join(dir, "arm.json")
	tmpl, _ := prefectaci.DefaultARMTemplate()
	tmpl["resources"].([]any)[0].(map[string]any)["tags"] = map[string]any{"team": "{{ image }}"}
	b, _ := json.Marshal(tmpl)
	if err := os.WriteFile(tmplPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	const secretVal = "s3cr3t-value-abcdef"
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, g view, r cmdResult)
	}{
		{"image and no entrypoint", []string{"--image", "alpine:3.20", "--entrypoint", ""}, func(t *testing.T, g view, r cmdResult) {
			if g.container("image") != "alpine:3.20" || g.container("command", 0) != "sh" {
				t.Errorf("image %v command %v", g.container("image"), g.container("command"))
			}
		}},
		{"default image and entrypoint", nil, func(t *testing.T, g view, r cmdResult) {
			if g.container("image") != aci.DefaultImage || g.container("command", 0) != aci.DefaultEntrypoint || g.container("command", 1) != "sh" {
				t.Errorf("image %v command %v", g.container("image"), g.container("command"))
			}
		}},
		{"cpu and memory", []string{"--cpu", "0.5", "--memory", "1.5"}, func(t *testing.T, g view, r cmdResult) {
			if g.container("resources", "requests", "cpu") != 0.5 || g.container("resources", "requests", "memoryInGB") != 1.5 {
				t.Errorf("requests %v", g.container("resources", "requests"))
			}
		}},
		{"gpu", []string{"--gpu-count", "1", "--gpu-sku", "V100"}, func(t *testing.T, g view, r cmdResult) {
			if g.container("resources", "requests", "gpu", "count") != 1.0 || g.container("resources", "requests", "gpu", "sku") != "V100" {
				t.Errorf("gpu %v", g.container("resources", "requests", "gpu"))
			}
			if !strings.Contains(r.stderr, "retired GPU container groups") {
				t.Errorf("no GPU warning:\n%s", r.stderr)
			}
		}},
		{"env", []string{"--env", "A=1", "--env", "B=[x]"}, func(t *testing.T, g view, r cmdResult) {
			e := g.env()
			if e["A"]["value"] != "1" || e["B"]["value"] != "[x]" {
				t.Errorf("env %v", e)
			}
		}},
		{"secret env", []string{"--secret-env", "S=" + secretVal}, func(t *testing.T, g view, r cmdResult) {
			s, ok := g.env()["S"]
			if !ok || s["value"] != nil || s["secureValue"] != nil {
				t.Errorf("secure variable read back as %v (want present, without any value)", s)
			}
		}},
		{"identity", []string{"--identity", testIdentity}, func(t *testing.T, g view, r cmdResult) {
			if g.get("identity", "type") != "UserAssigned" || g.get("identity", "userAssignedIdentities", testIdentity) == nil {
				t.Errorf("identity %v", g.get("identity"))
			}
		}},
		{"registry identity", []string{"--registry-identity", "myacr.azurecr.io=" + testIdentity}, func(t *testing.T, g view, r cmdResult) {
			if g.get("properties", "imageRegistryCredentials", 0, "server") != "myacr.azurecr.io" || g.get("properties", "imageRegistryCredentials", 0, "identity") != testIdentity {
				t.Errorf("registry %v", g.get("properties", "imageRegistryCredentials"))
			}
			if g.get("identity", "userAssignedIdentities", testIdentity) == nil {
				t.Errorf("the registry identity is not on the group: %v", g.get("identity"))
			}
		}},
		{"registry password", []string{"--registry-server", "reg.example.com", "--registry-username", "bob", "--registry-password", secretVal}, func(t *testing.T, g view, r cmdResult) {
			c, _ := g.get("properties", "imageRegistryCredentials", 0).(map[string]any)
			if c["server"] != "reg.example.com" || c["username"] != "bob" || c["password"] != nil {
				t.Errorf("registry %v", c)
			}
		}},
		{"subnet", []string{"--subnet-id", "/subscriptions/6d1e9b3c-2a7f-4e58-b0c4-7f3a9d2e1c65/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/aci"}, func(t *testing.T, g view, r cmdResult) {
			if id, _ := g.get("properties", "subnetIds", 0, "id").(string); !strings.HasSuffix(id, "/subnets/aci") {
				t.Errorf("subnets %v", g.get("properties", "subnetIds"))
			}
		}},
		{"dns", []string{"--dns-server", "10.0.0.10", "--dns-server", "10.0.0.11"}, func(t *testing.T, g view, r cmdResult) {
			if g.get("properties", "dnsConfig", "nameServers", 1) != "10.0.0.11" {
				t.Errorf("dns %v", g.get("properties", "dnsConfig"))
			}
		}},
		{"location", []string{"--location", "westeurope"}, func(t *testing.T, g view, r cmdResult) {
			if g.get("location") != "westeurope" {
				t.Errorf("location %v", g.get("location"))
			}
		}},
		{"arm template", []string{"--arm-template", tmplPath}, func(t *testing.T, g view, r cmdResult) {
			if g.get("tags", "team") != aci.DefaultImage {
				t.Errorf("tags %v", g.get("tags"))
			}
		}},
		{"resource group, subscription, timeouts, quiet", []string{"--resource-group", emu.Settings().ResourceGroup, "--subscription", emu.Settings().SubscriptionID, "--start-timeout", "1m", "--poll-interval", "100ms", "--quiet"}, func(t *testing.T, g view, r cmdResult) {
			if r.stdout != "" {
				t.Errorf("--quiet printed %q", r.stdout)
			}
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := fmt.Sprintf("flags-%d", i)
			args := append([]string{"--keep", "--name", name}, tc.args...)
			args = append(args, "--", "sh", "-c", "echo hi")
			r := runCommand(t, context.Background(), emu, "", nil, args...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			if !slicesContains(tc.args, "--quiet") && r.stdout != "hi\n" {
				t.Errorf("stdout %q", r.stdout)
			}
			resp, err := gc.Get(context.Background(), emu.Settings().ResourceGroup, name, nil)
			if err != nil {
				t.Fatalf("read back %s: %v", name, err)
			}
			raw, _ := json.Marshal(resp.ContainerGroup)
			var g view
			json.Unmarshal(raw, &g)
			tc.check(t, g, r)
			for _, s := range []string{string(raw), r.stdout, r.stderr} {
				if strings.Contains(s, secretVal) {
					t.Errorf("a secret leaked: %s", s)
				}
			}
			if _, err := gc.BeginDelete(context.Background(), emu.Settings().ResourceGroup, name, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestRunCommandExitCodes(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"container exit code", []string{"--", "sh", "-c", "exit 3"}, 3, "terminated with exit code 3"},
		// The main process is its container's init, which cannot signal
		// itself to death; a child killed by SIGKILL gives the same code.
		{"killed container", []string{"--", "sh", "-c", "sh -c 'kill -9 $$'; exit $?"}, 137, "exit code 137"},
		{"cpu not a number", []string{"--cpu", "abc", "--", "true"}, 2, `"abc" for "--cpu"`},
		{"cpu out of range", []string{"--cpu", "99", "--", "true"}, 2, "--cpu 99"},
		{"memory negative", []string{"--memory", "-1", "--", "true"}, 2, "--memory -1"},
		{"env without name", []string{"--env", "=x", "--", "true"}, 2, "--env =x"},
		{"secret env value never echoed", []string{"--secret-env", "BAD-NAME=hunter22", "--", "true"}, 2, "--secret-env BAD-NAME=..."},
		{"no command", nil, 2, "a command is required"},
		{"registry without username", []string{"--registry-server", "r.io", "--", "true"}, 2, "--registry-username is required"},
		{"bad name", []string{"--name", "Bad_Name", "--", "true"}, 2, `--name "Bad_Name"`},
		{"missing template", []string{"--arm-template", "/nonexistent/arm.json", "--", "true"}, 2, "--arm-template /nonexistent/arm.json"},
		{"gpu without sku", []string{"--gpu-count", "1", "--", "true"}, 2, "--gpu-count 1"},
		{"unknown flag", []string{"--bogus", "--", "true"}, 2, "--bogus"},
		{"identity not a resource id", []string{"--identity", "me", "--", "true"}, 2, `identity "me"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCommand(t, context.Background(), emu, "", nil, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, r.stderr)
			}
			if strings.Contains(r.stderr, "hunter22") {
				t.Errorf("stderr shows a secret:\n%s", r.stderr)
			}
		})
	}
}

func TestRunCommandSignal(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGTERM, 143}, {syscall.SIGINT, 130}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			stdout := &lockedBuffer{on: func(s string) {
				if strings.Contains(s, "ready") {
					cancel(signalCause{tc.sig})
				}
			}}
			name := fmt.Sprintf("sig-%d", tc.sig)
			r := runCommand(t, ctx, emu, "", stdout, "--name", name, "--", "sh", "-c", "echo ready; sleep 600")
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r.stderr)
			}
			gc := groupsClient(t, emu)
			if _, err := gc.Get(context.Background(), emu.Settings().ResourceGroup, name, nil); err == nil {
				t.Errorf("group %s left behind", name)
			}
			if !strings.Contains(r.stderr, "deleted container group "+name) || !strings.Contains(r.stderr, "deleted deployment record aciworker-run-"+name) {
				t.Errorf("stderr:\n%s", r.stderr)
			}
		})
	}
}

// TestRunBinarySIGTERM sends a real SIGTERM to a built aciworker running
// on its embedded emulator.
func TestRunBinarySIGTERM(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "aciworker")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ready := make(chan struct{})
	var once sync.Once
	stdout := &lockedBuffer{on: func(s string) {
		if strings.Contains(s, "ready") {
			once.Do(func() { close(ready) })
		}
	}}
	var stderr lockedBuffer
	cmd := exec.Command(bin, "run", "--emulator", "--", "sh", "-c", "echo ready; sleep 600")
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the container never printed ready\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 143 {
		t.Errorf("exit: %v, want 143\n%s", err, stderr.String())
	}
	for _, want := range []string{"received terminated; cleaning up", "deleted container group", "deleted deployment record"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestRunCommandSecrets(t *testing.T) {
	t.Parallel()
	emu := emutest.Start(t)
	const tok = "tok-77aa88bb99cc"
	const pw = "pw-0011223344ff"
	r := runCommand(t, context.Background(), emu, pw+"\n", nil, "--keep", "--name", "secrets",
		"--secret-env", "TOKEN="+tok, "--registry-server", "reg.example.com", "--registry-username", "bob", "--registry-password-stdin",
		"--", "sh", "-c", `printf %s "$TOKEN" | sha256sum`)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	h := sha256.Sum256([]byte(tok))
	if !strings.Contains(r.stdout, hex.EncodeToString(h[:])) {
		t.Errorf("the container did not see the secret: %q", r.stdout)
	}
	gc := groupsClient(t, emu)
	g, err := gc.Get(context.Background(), emu.Settings().ResourceGroup, "secrets", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(g)
	list, _ := json.Marshal(emu.RequestLog())
	for _, s := range []string{string(raw), string(list), r.stdout, r.stderr} {
		if strings.Contains(s, tok) || strings.Contains(s, pw) {
			t.Errorf("a secret leaked into %s", s)
		}
	}
}

// Prefect's credentials go to the container as secure values even when
// passed with --env: package aci no longer knows their names, so run marks
// them.
func TestRunEnvMarksPrefectCredentialsSecret(t *testing.T) {
	t.Parallel()
	deps := cmdDeps{getenv: func(string) string { return "" }}
	tests := []struct {
		kv     string
		secret bool
		want   bool
	}{
		{"PREFECT_API_KEY=pnu_abc", false, true},
		{"prefect_api_auth_string=u:p", false, true},
		{"PREFECT_CLIENT_CUSTOM_HEADERS={}", false, true},
		{"PREFECT_API_URL=http://x/api", false, false},
		{"TOKEN=t", true, true},
	}
	for _, tc := range tests {
		e, err := parseEnv("--env", tc.kv, tc.secret, deps)
		if err != nil {
			t.Fatalf("parseEnv(%q): %v", tc.kv, err)
		}
		if e.Secret != tc.want {
			t.Errorf("parseEnv(%q).Secret = %v, want %v", tc.kv, e.Secret, tc.want)
		}
	}
}
