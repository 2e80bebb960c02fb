package worker_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aciworker/aciworker/internal/prefecttest"
	"github.com/aciworker/aciworker/prefect"
	"github.com/aciworker/aciworker/worker"
)

// A pool made by the real `prefect work-pool create --type
// azure-container-instance` with a customised template (tags, kept groups)
// and block-reference credentials works unchanged: the worker has no Azure
// credentials of its own, so the run can only start with the block's.
func TestCLIPoolWithBlockCredentials(t *testing.T) {
	t.Parallel()
	s := prefecttest.Get(t)
	b := newBed(t, s)
	ctx := ctxFor(t, 3*time.Minute)
	es := b.emu.Settings()
	block, err := b.pf.CreateBlockDocument(ctx, "azure-container-instance-credentials", "creds-"+randomSuffix(),
		map[string]any{"client_id": es.ClientID, "tenant_id": es.TenantID, "client_secret": es.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := worker.DefaultBaseJobTemplate()
	if err != nil {
		t.Fatal(err)
	}
	props := tmpl["variables"].(map[string]any)["properties"].(map[string]any)
	props["aci_credentials"].(map[string]any)["default"] = map[string]any{"$ref": map[string]any{"block_document_id": block.ID}}
	props["keep_container_group"].(map[string]any)["default"] = true
	props["resource_group_name"].(map[string]any)["default"] = es.ResourceGroup
	props["subscription_id"].(map[string]any)["default"] = es.SubscriptionID
	arm := tmpl["job_configuration"].(map[string]any)["arm_template"].(map[string]any)
	arm["resources"].([]any)[0].(map[string]any)["tags"] = map[string]any{"team": "data"}
	file := filepath.Join(t.TempDir(), "template.json")
	data, _ := json.Marshal(tmpl)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := s.CLI(ctx, "work-pool", "create", b.pool, "--type", "azure-container-instance", "--base-job-template", file); err != nil {
		t.Fatalf("prefect work-pool create: %v\n%s", err, out)
	}
	dep := b.deploy("blockcreds", t.TempDir(), "flows.py:x", map[string]any{"command": standinCommand()})
	id := b.runDeployment(dep, nil)
	b.startWorker(func(c *worker.Config) {
		c.Azure.TenantID, c.Azure.ClientID, c.Azure.ClientSecret = "", "", ""
	})
	fr := b.waitFinal(id, 2*time.Minute)
	if fr.StateType != prefect.StateCompleted {
		t.Fatalf("state %s (%s), want COMPLETED", fr.StateType, stateMessage(fr))
	}
	group := worker.GroupName("blockcreds", id)
	waitFor(t, time.Minute, "the kept group stopped, tagged, and no deployment record", func() (bool, error) {
		g, err := b.az.GetGroup(context.Background(), es.ResourceGroup, group)
		if err != nil {
			return false, err
		}
		ds, err := b.az.ListDeployments(context.Background(), es.ResourceGroup)
		if err != nil {
			return false, err
		}
		_, ended := g.Outcome()
		return ended && len(ds) == 0 && g.Tags["team"] == "data" && g.Tags[worker.TagPool] == b.pool && g.Tags[worker.TagFlowRunID] == id, nil
	})
	if err := b.az.DeleteGroup(context.Background(), es.ResourceGroup, group); err != nil {
		t.Fatal(err)
	}
}
