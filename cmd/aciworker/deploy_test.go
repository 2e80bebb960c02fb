package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the module's root, two levels above this package.
const repoRoot = "../.."

// yamlDocs parses every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		t.Fatalf("%s holds no YAML document", path)
	}
	return docs
}

// Every YAML file shipped parses, and every Kubernetes manifest names its
// kind.
func TestShippedYAMLParses(t *testing.T) {
	t.Parallel()
	var files []string
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".venv", "dist", "out", "soak-out", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(p); ext == ".yaml" || ext == ".yml" {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		docs := yamlDocs(t, f)
		if strings.Contains(filepath.ToSlash(f), "deploy/kubernetes/") {
			for _, d := range docs {
				if d["apiVersion"] == nil || d["kind"] == nil {
					t.Errorf("%s: a manifest without apiVersion or kind", f)
				}
			}
		}
	}
}

// dig walks nested maps and lists from a map, as view.get does.
func dig(v any, path ...any) any {
	m, _ := v.(map[string]any)
	return view(m).get(path...)
}

func strs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// checkStartArgs parses the worker's arguments with start's own flags.
func checkStartArgs(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 || args[0] != "start" {
		t.Fatalf("%s: args %v do not start the worker", where, args)
	}
	var got *startOptions
	cmd := newStartCmd(cmdDeps{getenv: func(string) string { return "" }}, func(o *startOptions) error { got = o; return nil })
	cmd.SetArgs(args[1:])
	if err := cmd.Execute(); err != nil {
		t.Errorf("%s: args %v: %v", where, args, err)
	} else if got.pool == "" || !got.healthcheck {
		t.Errorf("%s: args %v name no pool or serve no /health, which the probes read", where, args)
	}
}

// chartWorkerKeys are the keys the prefect-worker chart's values schema
// allows under `worker` (it sets additionalProperties: false).
var chartWorkerKeys = []string{
	"autoscaling", "clusterUid", "initContainer", "dnsPolicy", "dnsConfig", "image", "config", "apiConfig",
	"cloudApiConfig", "customerManagedCloudApiConfig", "selfHostedServerApiConfig", "revisionHistoryLimit",
	"replicaCount", "resources", "livenessProbe", "podSecurityContext", "priorityClassName",
	"containerSecurityContext", "args", "command", "podLabels", "podAnnotations", "affinity", "nodeSelector",
	"tolerations", "extraEnvVars", "extraEnvVarsCM", "extraEnvVarsCMs", "extraEnvVarsSecret",
	"extraEnvVarsSecrets", "extraContainers", "extraVolumes", "extraVolumeMounts", "extraArgs", "podDisruptionBudget",
}

func TestHelmValues(t *testing.T) {
	t.Parallel()
	const f = repoRoot + "/deploy/helm/prefect-worker-values.yaml"
	v := yamlDocs(t, f)[0]
	w, _ := v["worker"].(map[string]any)
	for k := range w {
		if !slices.Contains(chartWorkerKeys, k) {
			t.Errorf("worker.%s is not a key of the prefect-worker chart", k)
		}
	}
	if got := strs(dig(w, "command")); !slices.Equal(got, []string{"/aciworker"}) {
		t.Errorf("worker.command = %v, want the image's binary", got)
	}
	checkStartArgs(t, f, strs(dig(w, "args")))
	if dig(w, "livenessProbe", "enabled") != true {
		t.Error("the chart's /health liveness probe is off")
	}
	if dig(w, "containerSecurityContext", "readOnlyRootFilesystem") != true || dig(w, "containerSecurityContext", "runAsNonRoot") != true {
		t.Error("the container may write its root file system or run as root")
	}
	if dig(w, "cloudApiConfig", "apiKeySecret", "name") == nil {
		t.Error("the API key does not come from a Secret")
	}
	if dig(v, "serviceAccount", "annotations", "azure.workload.identity/client-id") == nil {
		t.Error("the service account has no workload identity annotation")
	}
}

func TestKubernetesDeployment(t *testing.T) {
	t.Parallel()
	const f = repoRoot + "/deploy/kubernetes/deployment.yaml"
	d := yamlDocs(t, f)[0]
	pod := dig(d, "spec", "template", "spec")
	c := dig(pod, "containers", 0)
	checkStartArgs(t, f, strs(dig(c, "args")))
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		if dig(c, probe, "httpGet", "path") != "/health" {
			t.Errorf("%s does not read /health", probe)
		}
	}
	if dig(c, "securityContext", "readOnlyRootFilesystem") != true || dig(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("the container may write its root file system or run as root")
	}
	found := false
	for _, e := range dig(c, "env").([]any) {
		if dig(e, "name") == "PREFECT_API_KEY" {
			found = dig(e, "valueFrom", "secretKeyRef", "name") != nil && dig(e, "value") == nil
		}
	}
	if !found {
		t.Error("PREFECT_API_KEY is not read from a Secret")
	}
	if dig(pod, "serviceAccountName") != "aciworker" {
		t.Error("the pod does not use the workload identity service account")
	}
}

// The role definition is what `az role definition create` takes: its
// fields, custom, with the actions the worker's Azure calls need.
func TestAzureRoleDefinition(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(repoRoot + "/deploy/azure/aciworker-role.json")
	if err != nil {
		t.Fatal(err)
	}
	var role struct {
		Name, Description string
		IsCustom          bool
		Actions           []string
		NotActions        []string
		DataActions       []string
		NotDataActions    []string
		AssignableScopes  []string
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&role); err != nil {
		t.Fatal(err)
	}
	if role.Name == "" || !role.IsCustom || len(role.AssignableScopes) == 0 {
		t.Errorf("role %+v lacks a name, IsCustom or a scope", role)
	}
	for _, want := range []string{
		"Microsoft.Resources/deployments/write",
		"Microsoft.ContainerInstance/containerGroups/delete",
		"Microsoft.ContainerInstance/containerGroups/containers/logs/read",
		"Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
		"Microsoft.Network/virtualNetworks/subnets/join/action",
	} {
		if !slices.Contains(role.Actions, want) {
			t.Errorf("the role lacks %s", want)
		}
	}
	for _, a := range role.Actions {
		if strings.Contains(a, "*") {
			t.Errorf("the role grants a wildcard: %s", a)
		}
	}
}
