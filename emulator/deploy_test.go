package emulator_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armdeployments"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/emutest"
	"github.com/aciworker/aciworker/emulator/runtime"
)

func TestDeploymentSynchronousErrors(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	ctx := ctxT(t)
	cmd := []string{"true"}
	tests := []struct {
		name   string
		tmpl   func() map[string]any
		params map[string]any
		mode   armdeployments.DeploymentMode
		code   string
	}{
		{"undeclared parameter", func() map[string]any { return sampleTemplate(t, cmd) },
			map[string]any{"container_group_name": "a", "nope": "x"}, "", "InvalidTemplate"},
		{"unknown function", func() map[string]any {
			m := sampleTemplate(t, cmd)
			m["resources"].([]any)[0].(map[string]any)["name"] = "[like('a')]"
			return m
		}, nil, "", "InvalidTemplate"},
		{"complete mode", func() map[string]any { return sampleTemplate(t, cmd) }, nil, armdeployments.DeploymentModeComplete, "DeploymentModeNotSupported"},
		{"resource type not emulated", func() map[string]any {
			m := sampleTemplate(t, cmd)
			m["resources"] = append(m["resources"].([]any), map[string]any{
				"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "store", "location": "eastus",
			})
			return m
		}, nil, "", "InvalidTemplateDeployment"},
		{"unknown aci api-version", func() map[string]any {
			m := sampleTemplate(t, cmd)
			m["resources"].([]any)[0].(map[string]any)["apiVersion"] = "2099-01-01"
			return m
		}, nil, "", "InvalidTemplateDeployment"},
		{"invalid container group", func() map[string]any {
			m := sampleTemplate(t, cmd)
			props := m["resources"].([]any)[0].(map[string]any)["properties"].(map[string]any)
			delete(props, "osType")
			return m
		}, nil, "", "InvalidTemplateDeployment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mode := tc.mode
			if mode == "" {
				mode = armdeployments.DeploymentModeIncremental
			}
			dp := map[string]*armdeployments.DeploymentParameter{}
			for k, v := range tc.params {
				dp[k] = &armdeployments.DeploymentParameter{Value: v}
			}
			_, err := s.deploy.BeginCreateOrUpdate(ctx, s.set.ResourceGroup, "bad-"+strings.ReplaceAll(tc.name, " ", "-"), armdeployments.Deployment{
				Properties: &armdeployments.DeploymentProperties{Mode: to.Ptr(mode), Template: tc.tmpl(), Parameters: dp},
			}, nil)
			if err == nil {
				t.Fatalf("accepted; want %s", tc.code)
			}
			if got := errorCode(t, err); got != tc.code {
				t.Fatalf("code %s, want %s: %v", got, tc.code, err)
			}
		})
	}
	pager := s.deploy.NewListByResourceGroupPager(s.set.ResourceGroup, nil)
	page, err := pager.NextPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Value) != 0 {
		t.Fatalf("rejected deployments were recorded: %d", len(page.Value))
	}
}

func TestDeploymentAsynchronousFailures(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t, func(c *emulator.Config) {
		c.Images = []runtime.Image{{Pattern: "ghcr.io/missing/*", PullError: "manifest unknown"}}
		c.MaxCores = 4
	})
	s := newSDK(t, e)
	ctx := ctxT(t)

	// A group that holds 2 of the 4 cores; the failed pull group below holds 1 more.
	big := validGroup("sleep", "30")
	big.Properties.Containers[0].Properties.Resources.Requests.CPU = to.Ptr(2.0)
	if _, err := createGroup(ctx, s, "big", big); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		setup  func()
		tmpl   func() map[string]any
		inner  string
		direct string // the code a direct PUT of the same group gets
	}{
		{"image pull failure", nil, func() map[string]any {
			m := sampleTemplate(t, []string{"true"})
			m["resources"].([]any)[0].(map[string]any)["properties"].(map[string]any)["containers"].([]any)[0].(map[string]any)["properties"].(map[string]any)["image"] = "ghcr.io/missing/img:1"
			return m
		}, "InaccessibleImage", ""},
		{"core quota", nil, func() map[string]any {
			m := sampleTemplate(t, []string{"true"})
			m["resources"].([]any)[0].(map[string]any)["properties"].(map[string]any)["containers"].([]any)[0].(map[string]any)["properties"].(map[string]any)["resources"] =
				map[string]any{"requests": map[string]any{"cpu": json.Number("2"), "memoryInGB": json.Number("1")}}
			return m
		}, "ContainerGroupQuotaReached", ""},
		{"injected provisioning failure", func() {
			e.FailProvisioning(1, "ServiceUnavailable", "The requested resource is not available in the location 'eastus' at this moment.")
		},
			func() map[string]any { return sampleTemplate(t, []string{"true"}) }, "ServiceUnavailable", ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			name := "fail-" + string(rune('a'+i))
			_, err := deployTemplate(ctx, s, "prefect-"+name, tc.tmpl(), map[string]any{"container_group_name": name})
			if err == nil {
				t.Fatal("deployment succeeded")
			}
			if got := errorCode(t, err); got != "DeploymentFailed" {
				t.Fatalf("code %s: %v", got, err)
			}
			if !strings.Contains(err.Error(), tc.inner) {
				t.Fatalf("inner code %s missing: %v", tc.inner, err)
			}
			got, err := s.deploy.Get(ctx, s.set.ResourceGroup, "prefect-"+name, nil)
			if err != nil {
				t.Fatal(err)
			}
			pe := got.Properties.Error
			if *got.Properties.ProvisioningState != armdeployments.ProvisioningStateFailed || pe == nil || *pe.Code != "DeploymentFailed" ||
				len(pe.Details) != 1 || *pe.Details[0].Code != tc.inner {
				b, _ := json.Marshal(got.Properties)
				t.Fatalf("deployment record %s", b)
			}
		})
	}
}

func TestDirectProvisioningFailures(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t, func(c *emulator.Config) {
		c.Images = []runtime.Image{{Pattern: "ghcr.io/missing/*", PullError: "manifest unknown"}}
		c.MaxGroups = 2
	})
	s := newSDK(t, e)
	ctx := ctxT(t)

	g := validGroup()
	g.Properties.Containers[0].Properties.Image = to.Ptr("ghcr.io/missing/x:1")
	if _, err := createGroup(ctx, s, "pull", g); err == nil || errorCode(t, err) != "InaccessibleImage" {
		t.Fatalf("pull failure: %v", err)
	}
	got, err := s.groups.Get(ctx, s.set.ResourceGroup, "pull", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Properties.ProvisioningState != "Failed" {
		t.Fatalf("provisioningState %s", *got.Properties.ProvisioningState)
	}
	e.FailProvisioning(1, "ServiceUnavailable", "no capacity")
	if _, err := createGroup(ctx, s, "capacity", validGroup()); err == nil || errorCode(t, err) != "ServiceUnavailable" {
		t.Fatalf("injected failure: %v", err)
	}
	if _, err := createGroup(ctx, s, "third", validGroup()); err == nil || errorCode(t, err) != "ContainerGroupQuotaReached" {
		t.Fatalf("group quota: %v", err)
	}
	// Updating an existing group does not count against the group quota.
	if _, err := createGroup(ctx, s, "pull", validGroup()); err != nil {
		t.Fatalf("update within quota: %v", err)
	}
}

func TestSecretsNeverComeBack(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	ctx := ctxT(t)
	const literal, param, regPass = "literal-secret-8f3a", "param-secret-2c9d", "registry-pass-7e1b"

	tmpl := sampleTemplate(t, []string{"sh", "-c", `echo "A=$LIT B=$PAR"`})
	tmpl["parameters"].(map[string]any)["api_key"] = map[string]any{"type": "securestring"}
	tmpl["parameters"].(map[string]any)["reg_pass"] = map[string]any{"type": "secureString"}
	res := tmpl["resources"].([]any)[0].(map[string]any)
	props := res["properties"].(map[string]any)
	props["containers"].([]any)[0].(map[string]any)["properties"].(map[string]any)["environmentVariables"] = []any{
		map[string]any{"name": "LIT", "secureValue": literal},
		map[string]any{"name": "PAR", "secureValue": "[parameters('api_key')]"},
		map[string]any{"name": "PLAIN", "value": "visible"},
	}
	props["imageRegistryCredentials"] = []any{map[string]any{"server": "r.azurecr.io", "username": "u", "password": "[parameters('reg_pass')]"}}
	if _, err := deployTemplate(ctx, s, "prefect-secrets", tmpl, map[string]any{
		"container_group_name": "secrets", "api_key": param, "reg_pass": regPass,
	}); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	waitGroup(ctx, t, s, "secrets", terminated)
	c := newRaw(t, s)

	// The container saw both values.
	g := c.do("GET", groupsPath(s.set, "secrets")+"?api-version=2023-05-01", nil)
	cname := g.json(t)["properties"].(map[string]any)["containers"].([]any)[0].(map[string]any)["name"].(string)
	logs := c.do("GET", groupsPath(s.set, "secrets")+"/containers/"+cname+"/logs?api-version=2023-05-01", nil)
	if !strings.Contains(string(logs.body), "A="+literal+" B="+param) {
		t.Fatalf("container did not see the secrets: %s", logs.body)
	}
	mustNotContain(t, "container group GET", g.body, literal, param, regPass)
	if !strings.Contains(string(g.body), `"value":"visible"`) || !strings.Contains(string(g.body), `"username":"u"`) {
		t.Fatalf("plain values missing from GET: %s", g.body)
	}
	list := c.do("GET", groupsPath(s.set, "")+"?api-version=2023-05-01", nil)
	mustNotContain(t, "container group list", list.body, literal, param, regPass)
	sub := c.do("GET", "/subscriptions/"+s.set.SubscriptionID+"/providers/Microsoft.ContainerInstance/containerGroups?api-version=2023-05-01", nil)
	mustNotContain(t, "subscription list", sub.body, literal, param, regPass)

	dpath := "/subscriptions/" + s.set.SubscriptionID + "/resourcegroups/" + s.set.ResourceGroup + "/providers/Microsoft.Resources/deployments/prefect-secrets"
	d := c.do("GET", dpath+"?api-version=2025-04-01", nil)
	mustNotContain(t, "deployment GET", d.body, literal, param, regPass)
	dp := d.json(t)["properties"].(map[string]any)["parameters"].(map[string]any)
	if ak := dp["api_key"].(map[string]any); ak["type"] != "SecureString" || ak["value"] != nil {
		t.Fatalf("secure parameter echoed as %v", ak)
	}
	dl := c.do("GET", "/subscriptions/"+s.set.SubscriptionID+"/resourcegroups/"+s.set.ResourceGroup+"/providers/Microsoft.Resources/deployments?api-version=2025-04-01", nil)
	mustNotContain(t, "deployment list", dl.body, literal, param, regPass)

	// exportTemplate returns the template as stored: a literal secret in the
	// body comes back, as it does from Azure; parameter values never do.
	x, err := s.deploy.ExportTemplate(ctx, s.set.ResourceGroup, "prefect-secrets", nil)
	if err != nil {
		t.Fatal(err)
	}
	xb, _ := json.Marshal(x.Template)
	if !strings.Contains(string(xb), literal) {
		t.Fatalf("exportTemplate lost the literal: %s", xb)
	}
	mustNotContain(t, "exportTemplate", xb, param, regPass)

	logb, _ := json.Marshal(e.RequestLog())
	mustNotContain(t, "request log", logb, literal, param, regPass, s.set.ClientSecret, c.token)
	cb, _ := json.Marshal(e.Counters())
	mustNotContain(t, "counters", cb, literal, param, regPass, s.set.ClientSecret)
	for _, p := range []string{"/_emulator/requests", "/_emulator/counters"} {
		r := (&raw{t: t, e: e, token: s.set.ClientSecret}).do("GET", p, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d", p, r.status)
		}
		mustNotContain(t, "admin "+p, r.body, literal, param, regPass, s.set.ClientSecret, c.token)
	}
}
