package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/prefectaci"
)

// Names of things the soak creates in Prefect and the emulator.
const (
	registryServer = "soakregistry.azurecr.io"
	registryImage  = registryServer + "/standin:1"
	registryUser   = "soakuser"
	stockImage     = "prefecthq/prefect:3-latest"
	workerType     = "azure-container-instance"
)

// hostileFlowNames are flow names a user may well type: spaces and quotes,
// non-Latin scripts and emoji, and one far longer than a container group
// name may be.
var hostileFlowNames = []string{
	"soak flow with spaces 'and quotes' (v2)",
	"ünïcødé 流程 🚀 soak",
	strings.Repeat("a-very-long-flow-name-", 14),
}

// hostileRunName is the flow run name of hostile-name runs.
const hostileRunName = "run ✓ with spaces, ünïcødé and 'quotes'"

func decodeTemplate() (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(prefectaci.DefaultBaseJobTemplate())))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode the default base job template: %w", err)
	}
	return m, nil
}

// poolTemplate is the stock template with the schema of cpu and memory
// loosened, as a pool admin may do: the server then lets wrong types
// through to the worker, which must reject them itself.
func poolTemplate() (map[string]any, error) {
	t, err := decodeTemplate()
	if err != nil {
		return nil, err
	}
	props := t["variables"].(map[string]any)["properties"].(map[string]any)
	for _, k := range []string{"cpu", "memory"} {
		p := props[k].(map[string]any)
		delete(p, "type")
		p["description"] = "Loosened by the soak: any JSON value is accepted here."
	}
	return t, nil
}

// deploymentSpec is one deployment of the workload.
type deploymentSpec struct {
	Item     Item
	Pool     string
	FlowName string
	RunName  string
	JobVars  map[string]any
}

type workload struct {
	standin          string
	marks            string
	rg, subscription string
	sleepMin         string
	sleepMax         string
	registryPassword string
}

func (w workload) command(extra string) string {
	c := w.standin + " --sleep-min " + w.sleepMin + " --sleep-max " + w.sleepMax
	if extra != "" {
		c += " " + extra
	}
	return c
}

// specs returns the deployment of every kind and variant.
func (w workload) specs(pool string) []deploymentSpec {
	base := func() map[string]any {
		return map[string]any{
			"resource_group_name": w.rg,
			"subscription_id":     w.subscription,
			"image":               stockImage,
			"command":             w.command(""),
			"env":                 map[string]any{"SOAK_MARKS": w.marks},
		}
	}
	var out []deploymentSpec
	add := func(k Kind, v int, pool, flow, run string, mod func(map[string]any)) {
		jv := base()
		if mod != nil {
			mod(jv)
		}
		out = append(out, deploymentSpec{Item: Item{Kind: k, Variant: v}, Pool: pool, FlowName: flow, RunName: run, JobVars: jv})
	}
	add(KindNormal, 0, pool, "soak-flow", "", nil)
	for v, name := range hostileFlowNames {
		add(KindHostileName, v, pool, name, hostileRunName, nil)
	}
	add(KindFlowFails, 0, pool, "soak-failing-flow", "", func(jv map[string]any) {
		jv["command"] = w.command("--final FAILED --exit 1")
	})
	add(KindRegistry, 0, pool, "soak-private-image", "", func(jv map[string]any) {
		jv["image"] = registryImage
		jv["image_registry"] = map[string]any{"registry_url": registryServer, "username": registryUser, "password": w.registryPassword}
	})
	add(KindKeepGroup, 0, pool, "soak-keep-group", "", func(jv map[string]any) { jv["keep_container_group"] = true })
	add(KindBadType, 0, pool, "soak-bad-cpu", "", func(jv map[string]any) { jv["cpu"] = "abc" })
	add(KindBadType, 1, pool, "soak-bad-memory", "", func(jv map[string]any) { jv["memory"] = "lots" })
	add(KindBadType, 2, pool, "soak-bad-cpu-list", "", func(jv map[string]any) { jv["cpu"] = []any{1, 2} })
	add(KindEmptyImage, 0, pool, "soak-empty-image", "", func(jv map[string]any) { jv["image"] = "" })
	// Placeholders the worker meets while rendering that name nothing. The
	// server refuses undeclared placeholders in a pool's template, so they
	// come in through job variable values, which Prefect resolves after
	// templating: a missing Prefect variable is dropped, an unknown plain
	// placeholder stays as text, a missing block is an error.
	add(KindBadTemplate, 0, pool, "soak-missing-variable", "", func(jv map[string]any) {
		jv["command"] = w.command("{{ prefect.variables.soak_missing_variable }}")
	})
	add(KindBadTemplate, 1, pool, "soak-unknown-placeholder", "", func(jv map[string]any) {
		jv["env"] = map[string]any{"SOAK_MARKS": w.marks, "SOAK_UNKNOWN": "{{ soak_unknown_placeholder }}"}
	})
	add(KindBadTemplate, 2, pool, "soak-missing-block", "", func(jv map[string]any) {
		jv["env"] = map[string]any{"SOAK_MARKS": w.marks, "SOAK_BLOCK": "{{ prefect.blocks.secret.soak-missing-block }}"}
	})
	return out
}

// createDeployments creates pools, flows and deployments; it returns the
// deployment id of each item.
func createDeployments(ctx context.Context, pf *prefect.Client, specs []deploymentSpec, pool string, tmpl map[string]any) (map[Item]string, error) {
	if _, err := pf.CreateWorkPool(ctx, prefect.WorkPoolCreate{Name: pool, Type: workerType, BaseJobTemplate: tmpl}); err != nil {
		return nil, fmt.Errorf("create work pool %s: %w", pool, err)
	}
	ids := map[Item]string{}
	for i, s := range specs {
		f, err := pf.CreateFlow(ctx, s.FlowName)
		if err != nil {
			return nil, fmt.Errorf("create flow %q: %w", s.FlowName, err)
		}
		d, err := pf.CreateDeployment(ctx, prefect.DeploymentCreate{
			Name: fmt.Sprintf("soak-%s-%d-%d", s.Item.Kind, s.Item.Variant, i), FlowID: f.ID, WorkPoolName: s.Pool,
			JobVariables: s.JobVars, Parameters: map[string]any{},
		})
		if err != nil {
			return nil, fmt.Errorf("create deployment for %s/%d: %w", s.Item.Kind, s.Item.Variant, err)
		}
		ids[s.Item] = d.ID
	}
	return ids, nil
}
