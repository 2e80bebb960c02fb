// Package prefectaci is what Prefect's azure-container-instance worker type
// adds on top of an ACI job: the work pool's base job template, the job
// variables its ARM template reads as {{ placeholders }}, and the names of
// the Prefect settings that carry credentials. The worker and the one-shot
// `run` share it; package aci stays free of Prefect.
package prefectaci

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/aciworker/aciworker/aci"
	"github.com/aciworker/aciworker/internal/jsonvalue"
	"github.com/aciworker/aciworker/jobtemplate"
)

// defaultBaseJobTemplate is the base job template prefect-azure 0.4.13's
// azure-container-instance worker produces, byte for byte as its CLI prints it.
//
//go:embed basejobtemplate.json
var defaultBaseJobTemplate []byte

// DefaultBaseJobTemplate returns the default work-pool base job template as
// JSON. The slice is a copy the caller may keep.
func DefaultBaseJobTemplate() []byte {
	return bytes.Clone(defaultBaseJobTemplate)
}

// DefaultARMTemplate returns the ARM template of the default base job
// template, still holding its {{ placeholders }}, decoded with json.Number so
// that integers and floats keep their JSON spelling.
func DefaultARMTemplate() (map[string]any, error) {
	var t struct {
		JobConfiguration struct {
			ARMTemplate map[string]any `json:"arm_template"`
		} `json:"job_configuration"`
	}
	dec := json.NewDecoder(bytes.NewReader(defaultBaseJobTemplate))
	dec.UseNumber()
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("decode default base job template: %w", err)
	}
	return t.JobConfiguration.ARMTemplate, nil
}

// SecretEnvNames are always sent as secure values, whoever builds the job:
// they carry Prefect credentials.
var SecretEnvNames = []string{"PREFECT_API_KEY", "PREFECT_API_AUTH_STRING", "PREFECT_CLIENT_CUSTOM_HEADERS"}

// IsSecretEnvName reports one of SecretEnvNames, in any case.
func IsSecretEnvName(name string) bool {
	for _, s := range SecretEnvNames {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// TemplateValues are the job variables a worker-style ARM template may
// reference as {{ name }}: the same names as the work pool's job variables.
// Secret environment variables are left out so that a template cannot copy
// them into its body.
func TemplateValues(job aci.Job) map[string]any {
	cpu, mem := job.CPU, job.MemoryGB
	if cpu == 0 {
		cpu = aci.DefaultCPU
	}
	if mem == 0 {
		mem = aci.DefaultMemoryGB
	}
	v := map[string]any{
		"cpu":    pyFloat(cpu),
		"memory": pyFloat(mem),
	}
	if job.Image != "" {
		v["image"] = job.Image
	}
	if len(job.Command) > 0 {
		v["command"] = shellJoin(job.Command)
	}
	if job.Entrypoint != "" {
		v["entrypoint"] = job.Entrypoint
	}
	if job.GroupName != "" {
		v["name"] = job.GroupName
	}
	if job.GPUCount != 0 {
		v["gpu_count"] = json.Number(strconv.Itoa(job.GPUCount))
	}
	if job.GPUSKU != "" {
		v["gpu_sku"] = job.GPUSKU
	}
	if len(job.Identities) > 0 {
		v["identities"] = stringsToAny(job.Identities)
	}
	if len(job.SubnetIDs) > 0 {
		v["subnet_ids"] = stringsToAny(job.SubnetIDs)
	}
	if len(job.DNSServers) > 0 {
		v["dns_servers"] = stringsToAny(job.DNSServers)
	}
	env := map[string]any{}
	for _, e := range job.Env {
		if !e.Secret && !IsSecretEnvName(e.Name) {
			env[e.Name] = e.Value
		}
	}
	v["env"] = env
	return v
}

// RenderTemplate fills a worker-style ARM template's {{ }} placeholders
// from the job. The template is not modified.
func RenderTemplate(template map[string]any, job aci.Job) (map[string]any, error) {
	out := jobtemplate.ApplyValues(jsonvalue.Copy(template), TemplateValues(job))
	m, ok := out.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("rendering the ARM template gave %T, not an object", out)
	}
	return m, nil
}

// DefaultTemplate is the work pool's default ARM template rendered from the
// job.
func DefaultTemplate(job aci.Job) (map[string]any, error) {
	t, err := DefaultARMTemplate()
	if err != nil {
		return nil, err
	}
	return RenderTemplate(t, job)
}

// pyFloat spells a float as Python's str() does for the values a job uses,
// so 1 stays "1.0" as in prefect-azure's rendered templates.
func pyFloat(f float64) json.Number {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return json.Number(s)
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// shellJoin quotes argv as a POSIX shell would need it, the inverse of the
// shlex.split prefect-azure applies to a command string.
func shellJoin(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && !strings.ContainsFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r))
		}) {
			parts[i] = a
			continue
		}
		parts[i] = "'" + strings.ReplaceAll(a, "'", `'"'"'`) + "'"
	}
	return strings.Join(parts, " ")
}
