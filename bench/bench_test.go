package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCounters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     counters
		wantErr  bool
	}{
		{"plain map", `{"token":{"200":2},"containerGroups.get":{"200":5,"429":1}}`,
			counters{"token": {200: 2}, "containerGroups.get": {200: 5, 429: 1}}, false},
		{"wrapped byOp", `{"byOp":{"deployments.put":{"201":3}}}`, counters{"deployments.put": {201: 3}}, false},
		{"wrapped ByOp", `{"ByOp":{"deployments.put":{"201":3}}}`, counters{"deployments.put": {201: 3}}, false},
		{"bad status", `{"token":{"ok":1}}`, nil, true},
		{"not json", `nope`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCounters([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tc.wantErr && !equalCounters(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func equalCounters(a, b counters) bool {
	if len(a) != len(b) {
		return false
	}
	for op, m := range a {
		if len(m) != len(b[op]) {
			return false
		}
		for s, n := range m {
			if b[op][s] != n {
				return false
			}
		}
	}
	return true
}

func TestCountersArithmetic(t *testing.T) {
	t.Parallel()
	before := counters{"token": {200: 2}, "containerGroups.get": {200: 10}}
	after := counters{
		"token":                  {200: 4},
		"openidConfiguration":    {200: 2},
		"containerGroups.get":    {200: 30, 429: 3},
		"containerGroups.list":   {200: 1},
		"operations.get":         {200: 2},
		"containers.logs":        {200: 1},
		"deployments.put":        {201: 2, 429: 1},
		"containerGroups.delete": {200: 2},
		"deployments.delete":     {202: 1},
	}
	d := after.sub(before)
	if got := d.count("token"); got != 2 {
		t.Errorf("tokens = %d, want 2", got)
	}
	if got := d.status(429); got != 4 {
		t.Errorf("429s = %d, want 4", got)
	}
	if got := d.succeeded("deployments.put"); got != 2 {
		t.Errorf("accepted deployment PUTs = %d, want 2 (the 429 is not one)", got)
	}
	// reads: 20+3 get, 1 list, 2 operations, 1 logs = 27
	if got := d.reads(); got != 27 {
		t.Errorf("reads = %d, want 27", got)
	}
	// writes: 3 put, 2 group deletes, 1 deployment delete = 6
	if got := d.writes(); got != 6 {
		t.Errorf("writes = %d, want 6", got)
	}
}

func TestArmKind(t *testing.T) {
	t.Parallel()
	for op, want := range map[string]string{
		"token": "entra", "instanceDiscovery": "entra", "openidConfiguration": "entra",
		"resourceGroups.get": "read", "containerGroups.listBySubscription": "read", "operations.get": "read",
		"containers.logs": "read", "deployments.put": "write", "containerGroups.stop": "write",
		"deployments.exportTemplate": "write", "weird": "other", "x.y": "other",
	} {
		if got := armKind(op); got != want {
			t.Errorf("armKind(%q) = %q, want %q", op, got, want)
		}
	}
}

func TestFirstDeploymentPUTs(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	const id1 = "0b8f6c1e-55a4-4d0c-9a43-1e2b3c4d5e6f"
	const id2 = "11111111-2222-3333-4444-555555555555"
	base := "/subscriptions/s/resourcegroups/rg/providers/Microsoft.Resources/deployments/"
	entries := []requestEntry{
		{Time: t0.Add(3 * time.Second), Op: "deployments.put", Status: 429, Path: base + "prefect-bench-hello-" + id1 + "?api-version=2025-04-01"},
		{Time: t0.Add(5 * time.Second), Op: "deployments.put", Status: 201, Path: base + "prefect-bench-hello-" + id1 + "?api-version=2025-04-01"},
		{Time: t0.Add(9 * time.Second), Op: "deployments.put", Status: 200, Path: base + "prefect-bench-hello-" + id1},
		{Time: t0.Add(7 * time.Second), Op: "deployments.get", Status: 200, Path: base + "prefect-x-" + id2},
		{Time: t0.Add(8 * time.Second), Op: "deployments.put", Status: 201, Path: base + "prefect-X-" + strings.ToUpper(id2)},
		{Time: t0, Op: "deployments.put", Status: 201, Path: base + "prefect-no-uuid"},
	}
	got := firstDeploymentPUTs(entries)
	want := map[string]time.Time{id1: t0.Add(5 * time.Second), id2: t0.Add(8 * time.Second)}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if !got[k].Equal(v) {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
}

func TestHostsFileAndBundle(t *testing.T) {
	t.Parallel()
	h := hostsFile("127.0.0.1 localhost")
	if !strings.HasPrefix(h, "127.0.0.1 localhost\n") {
		t.Errorf("original lines not kept: %q", h)
	}
	for _, name := range []string{"management.azure.com", "login.microsoftonline.com"} {
		if !strings.Contains(h, "127.0.0.1 "+name+"\n") {
			t.Errorf("%s not mapped: %q", name, h)
		}
	}
	b := string(caBundle([]byte("CERTIFI"), []byte("EMU\n")))
	if !strings.HasPrefix(b, "CERTIFI\n") || !strings.HasSuffix(b, "EMU\n") {
		t.Errorf("bundle %q", b)
	}
}

func TestReadEnvLines(t *testing.T) {
	t.Parallel()
	in := "emulator listening\nA=1\nexport B=\"two\"\nlower=x\nAZURE_CLIENT_SECRET=hunter2\nC=3\nD=never read\n"
	var copied strings.Builder
	got, err := readEnvLines(strings.NewReader(in), &copied, []string{"A", "B", "C"})
	if err != nil {
		t.Fatal(err)
	}
	if got["A"] != "1" || got["B"] != "two" || got["C"] != "3" || got["lower"] != "" {
		t.Errorf("got %v", got)
	}
	if strings.Contains(copied.String(), "hunter2") || !strings.Contains(copied.String(), "AZURE_CLIENT_SECRET=<redacted>") {
		t.Errorf("secret not redacted in the copy: %q", copied.String())
	}
	if strings.Contains(copied.String(), "never read") {
		t.Error("read past the last wanted key")
	}
	_, err = readEnvLines(strings.NewReader("A=1\n"), &copied, []string{"A", "ZZ"})
	if err == nil || !strings.Contains(err.Error(), "ZZ") {
		t.Errorf("missing key: err = %v", err)
	}
}

func TestRedactDB(t *testing.T) {
	t.Parallel()
	if got := redactDB("postgresql+asyncpg://u:secretpw@127.0.0.1:5432/db"); strings.Contains(got, "secretpw") || !strings.HasSuffix(got, "@127.0.0.1:5432/db") {
		t.Errorf("got %q", got)
	}
	if got := redactDB("sqlite+aiosqlite:///x/prefect.db"); got != "sqlite+aiosqlite:///x/prefect.db" {
		t.Errorf("got %q", got)
	}
}

func TestConfigPostgres(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    Config
		want bool
	}{
		{Config{}, false},
		{Config{Postgres: true}, true},
		{Config{DatabaseURL: "postgresql+asyncpg://u@h/db"}, true},
		{Config{Postgres: true, DatabaseURL: "sqlite+aiosqlite:///x.db"}, false},
	} {
		if got := tc.c.postgres(); got != tc.want {
			t.Errorf("%+v: postgres() = %v, want %v", tc.c, got, tc.want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{OutDir: "x"}
	if err := c.defaults(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Ns, []int{10, 100, 500}) || c.Engine != EngineAuto || len(c.Workers) != 2 {
		t.Errorf("defaults: %+v", c)
	}
	for n, want := range map[int]string{1: EngineReal, 10: EngineReal, 11: EngineStandin, 500: EngineStandin, 501: EngineCheap, 2000: EngineCheap} {
		if got := c.EngineFor(n); got != want {
			t.Errorf("EngineFor(%d) = %s, want %s", n, got, want)
		}
	}
	c.Engine = EngineStandin
	if got := c.EngineFor(3); got != EngineStandin {
		t.Errorf("forced engine: %s", got)
	}
	for _, bad := range []Config{
		{OutDir: "x", Ns: []int{0}},
		{OutDir: "x", Workers: []string{"prefect-docker"}},
		{OutDir: "x", Engine: "fast"},
		{},
	} {
		if err := bad.defaults(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestWorkerCommand(t *testing.T) {
	t.Parallel()
	emu := map[string]string{
		"ACIWORKER_ARM_ENDPOINT": "https://127.0.0.1:443", "AZURE_AUTHORITY_HOST": "https://127.0.0.1:443/",
		"SSL_CERT_FILE": "/ca.pem", "AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s",
		"AZURE_SUBSCRIPTION_ID": "sub", "AZURE_RESOURCE_GROUP": "rg",
	}
	spec := workerSpec{worker: WorkerPython, pool: "p", venv: "/v", aciworker: "/bin/aciworker", apiURL: "http://api",
		home: "/h", emuEnv: emu, python: &pythonSetup{hostsPath: "/hosts", bundlePath: "/bundle"}}
	cmd, err := spec.command()
	if err != nil {
		t.Fatal(err)
	}
	argv := strings.Join(cmd.Args, " ")
	if !strings.HasPrefix(argv, "unshare --mount") || !strings.HasSuffix(argv, "/hosts /v/bin/prefect worker start --pool p --type azure-container-instance") {
		t.Errorf("python argv: %s", argv)
	}
	env := strings.Join(cmd.Env, "\n")
	for _, want := range []string{"AZURE_CLIENT_SECRET=s", "REQUESTS_CA_BUNDLE=/bundle", "SSL_CERT_FILE=/bundle", "PREFECT_API_URL=http://api"} {
		if !strings.Contains(env, want) {
			t.Errorf("python env lacks %s", want)
		}
	}
	// The Python SDK must reach Azure by its public names, not the emulator's address.
	if strings.Contains(env, "AZURE_AUTHORITY_HOST") || strings.Contains(env, "ACIWORKER_ARM_ENDPOINT") {
		t.Errorf("python env points at the emulator directly:\n%s", env)
	}

	spec.worker = WorkerGo
	cmd, err = spec.command()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cmd.Args, " "); got != "/bin/aciworker start --pool p" {
		t.Errorf("go argv: %s", got)
	}
	env = strings.Join(cmd.Env, "\n")
	for _, want := range []string{"ACIWORKER_ARM_ENDPOINT=https://127.0.0.1:443", "SSL_CERT_FILE=/ca.pem", "AZURE_RESOURCE_GROUP=rg"} {
		if !strings.Contains(env, want) {
			t.Errorf("go env lacks %s", want)
		}
	}
	spec.worker = "other"
	if _, err := spec.command(); err == nil {
		t.Error("unknown worker: no error")
	}
}

func TestCountersString(t *testing.T) {
	t.Parallel()
	c := counters{"containerGroups.list": {200: 3}, "deployments.put": {201: 4, 429: 1}}
	want := "     5 deployments.put 201:4 429:1\n     3 containerGroups.list 200:3\n"
	if got := c.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []int64
		want int64
	}{
		{in: []int64{7}, want: 7},
		{in: []int64{13, 7, 8}, want: 8},
		{in: []int64{13, 7, 8, 9}, want: 9},
		{in: []int64{8, 8, 14, 8, 13}, want: 8},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.in)
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %d, want %d", in, got, tt.want)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("median reordered its input: %v", tt.in)
		}
	}
}
