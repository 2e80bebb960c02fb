package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	azruntime "github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armdeployments"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/emutest"
	"github.com/aciworker/aciworker/prefectaci"
)

// sdk holds official SDK clients pointed at an emulator.
type sdk struct {
	emu        *emulator.Emulator
	set        emulator.Settings
	cred       azcore.TokenCredential
	deploy     *armdeployments.DeploymentsClient
	groups     *armcontainerinstance.ContainerGroupsClient
	containers *armcontainerinstance.ContainersClient
}

func clientOptions(e *emulator.Emulator) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: e.AuthorityHost(),
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Audience: "https://management.core.windows.net/", Endpoint: e.URL()},
			},
		},
		Transport: e.Client(),
		Retry:     policy.RetryOptions{RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond},
	}
}

func newSDK(t testing.TB, e *emulator.Emulator) *sdk {
	t.Helper()
	set := e.Settings()
	co := clientOptions(e)
	cred, err := azidentity.NewClientSecretCredential(set.TenantID, set.ClientID, set.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	ao := &arm.ClientOptions{ClientOptions: co}
	dc, err := armdeployments.NewDeploymentsClient(set.SubscriptionID, cred, ao)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := armcontainerinstance.NewContainerGroupsClient(set.SubscriptionID, cred, ao)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := armcontainerinstance.NewContainersClient(set.SubscriptionID, cred, ao)
	if err != nil {
		t.Fatal(err)
	}
	return &sdk{emu: e, set: set, cred: cred, deploy: dc, groups: gc, containers: cc}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var fast = &azruntime.PollUntilDoneOptions{Frequency: 10 * time.Millisecond}

// errorCode returns the ARM error code the SDK extracted from err.
func errorCode(t testing.TB, err error) string {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not an *azcore.ResponseError", err)
	}
	return re.ErrorCode
}

// sampleTemplate is the default Prefect ARM template with its placeholders
// filled as the worker would.
func sampleTemplate(t testing.TB, command []string) map[string]any {
	t.Helper()
	tmpl, err := prefectaci.DefaultARMTemplate()
	if err != nil {
		t.Fatal(err)
	}
	cmd := make([]any, len(command))
	for i, c := range command {
		cmd[i] = c
	}
	values := map[string]any{
		"{{ image }}":   "alpine:3",
		"{{ command }}": cmd,
		"{{ cpu }}":     json.Number("1"),
		"{{ memory }}":  json.Number("1"),
	}
	var fill func(v any) any
	fill = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, vv := range x {
				x[k] = fill(vv)
			}
		case []any:
			for i, vv := range x {
				x[i] = fill(vv)
			}
		case string:
			if r, ok := values[x]; ok {
				return r
			}
			if strings.Contains(x, "{{") {
				t.Fatalf("placeholder %q left in the template", x)
			}
		}
		return v
	}
	return fill(tmpl).(map[string]any)
}

func deployTemplate(ctx context.Context, s *sdk, name string, tmpl map[string]any, params map[string]any) (armdeployments.DeploymentsClientCreateOrUpdateResponse, error) {
	dp := map[string]*armdeployments.DeploymentParameter{}
	for k, v := range params {
		dp[k] = &armdeployments.DeploymentParameter{Value: v}
	}
	p, err := s.deploy.BeginCreateOrUpdate(ctx, s.set.ResourceGroup, name, armdeployments.Deployment{
		Properties: &armdeployments.DeploymentProperties{
			Mode:       to.Ptr(armdeployments.DeploymentModeIncremental),
			Template:   tmpl,
			Parameters: dp,
		},
	}, nil)
	if err != nil {
		return armdeployments.DeploymentsClientCreateOrUpdateResponse{}, err
	}
	return p.PollUntilDone(ctx, fast)
}

// waitGroup polls GET until cond holds.
func waitGroup(ctx context.Context, t testing.TB, s *sdk, name string, cond func(armcontainerinstance.ContainerGroup) bool) armcontainerinstance.ContainerGroup {
	t.Helper()
	for {
		resp, err := s.groups.Get(ctx, s.set.ResourceGroup, name, nil)
		if err != nil {
			t.Fatalf("get container group %s: %v", name, err)
		}
		if cond(resp.ContainerGroup) {
			return resp.ContainerGroup
		}
		select {
		case <-ctx.Done():
			b, _ := json.Marshal(resp.ContainerGroup)
			t.Fatalf("container group %s never reached the expected state; last: %s", name, b)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func terminated(g armcontainerinstance.ContainerGroup) bool {
	c := g.Properties.Containers[0]
	iv := c.Properties.InstanceView
	return iv != nil && iv.CurrentState != nil && iv.CurrentState.State != nil && *iv.CurrentState.State == "Terminated"
}

func TestSDKDeployRunStopDelete(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	ctx := ctxT(t)

	tmpl := sampleTemplate(t, []string{"sh", "-c", "echo hi; exit 3"})
	res, err := deployTemplate(ctx, s, "prefect-cg-e2e", tmpl, map[string]any{"container_group_name": "cg-e2e"})
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	p := res.Properties
	if got := *p.ProvisioningState; got != armdeployments.ProvisioningStateSucceeded {
		t.Fatalf("deployment state %s", got)
	}
	if len(p.OutputResources) != 1 || !strings.HasSuffix(*p.OutputResources[0].ID, "/containerGroups/cg-e2e") {
		t.Fatalf("outputResources %+v", p.OutputResources)
	}
	params, _ := p.Parameters.(map[string]any)
	cgn, _ := params["container_group_name"].(map[string]any)
	if cgn["type"] != "String" || cgn["value"] != "cg-e2e" {
		t.Fatalf("parameters echo %v", params)
	}

	g := waitGroup(ctx, t, s, "cg-e2e", terminated)
	cs := g.Properties.Containers[0].Properties.InstanceView.CurrentState
	if cs.ExitCode == nil || *cs.ExitCode != 3 {
		t.Fatalf("exit code %v, want 3", cs.ExitCode)
	}
	if *g.Properties.ProvisioningState != "Succeeded" {
		t.Fatalf("provisioningState %s", *g.Properties.ProvisioningState)
	}
	if got := *g.Properties.InstanceView.State; got != "Failed" {
		t.Fatalf("group state %s, want Failed for a non-zero exit with restartPolicy Never", got)
	}
	// The default template names the container uniqueString(resourceGroup().id).
	cname := *g.Properties.Containers[0].Name
	if len(cname) != 13 {
		t.Fatalf("container name %q is not a uniqueString", cname)
	}
	logs, err := s.containers.ListLogs(ctx, s.set.ResourceGroup, "cg-e2e", cname, &armcontainerinstance.ContainersClientListLogsOptions{Tail: to.Ptr[int32](100), Timestamps: to.Ptr(true)})
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	if !strings.Contains(*logs.Content, "hi") {
		t.Fatalf("logs %q lack the output", *logs.Content)
	}

	if _, err := s.groups.Stop(ctx, s.set.ResourceGroup, "cg-e2e", nil); err != nil {
		t.Fatalf("stop: %v", err)
	}
	g = waitGroup(ctx, t, s, "cg-e2e", func(g armcontainerinstance.ContainerGroup) bool {
		return *g.Properties.InstanceView.State == "Stopped"
	})
	if *g.Properties.ProvisioningState != "Succeeded" {
		t.Fatalf("provisioningState after stop %s", *g.Properties.ProvisioningState)
	}

	dp, err := s.groups.BeginDelete(ctx, s.set.ResourceGroup, "cg-e2e", nil)
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := dp.PollUntilDone(ctx, fast); err != nil {
		t.Fatalf("delete poll: %v", err)
	}
	_, err = s.groups.Get(ctx, s.set.ResourceGroup, "cg-e2e", nil)
	if code := errorCode(t, err); code != "ResourceNotFound" {
		t.Fatalf("after delete: code %s", code)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re); re.StatusCode != http.StatusNotFound {
		t.Fatalf("after delete: status %d", re.StatusCode)
	}

	// The deployment record outlives its resources until it is deleted.
	ddp, err := s.deploy.BeginDelete(ctx, s.set.ResourceGroup, "prefect-cg-e2e", nil)
	if err != nil {
		t.Fatalf("delete deployment: %v", err)
	}
	if _, err := ddp.PollUntilDone(ctx, fast); err != nil {
		t.Fatalf("delete deployment poll: %v", err)
	}
	_, err = s.deploy.Get(ctx, s.set.ResourceGroup, "prefect-cg-e2e", nil)
	if code := errorCode(t, err); code != "DeploymentNotFound" {
		t.Fatalf("deployment after delete: code %s", code)
	}
}

// Deployment records carry tags as any ARM resource does: they come back
// on GET and on the resource group's list, and reserved characters in a
// tag name are refused before anything is created.
func TestSDKDeploymentTags(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	ctx := ctxT(t)
	tmpl := sampleTemplate(t, []string{"true"})
	deploy := func(name string, tags map[string]*string) error {
		p, err := s.deploy.BeginCreateOrUpdate(ctx, s.set.ResourceGroup, name, armdeployments.Deployment{
			Properties: &armdeployments.DeploymentProperties{
				Mode:       to.Ptr(armdeployments.DeploymentModeIncremental),
				Template:   tmpl,
				Parameters: map[string]*armdeployments.DeploymentParameter{"container_group_name": {Value: "cg-tags"}},
			},
			Tags: tags,
		}, nil)
		if err != nil {
			return err
		}
		_, err = p.PollUntilDone(ctx, fast)
		return err
	}
	if err := deploy("prefect-cg-tags", map[string]*string{"aciworker.pool": to.Ptr("p1")}); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	got, err := s.deploy.Get(ctx, s.set.ResourceGroup, "prefect-cg-tags", nil)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if v := got.Tags["aciworker.pool"]; v == nil || *v != "p1" {
		t.Fatalf("GET tags %v", got.Tags)
	}
	pager := s.deploy.NewListByResourceGroupPager(s.set.ResourceGroup, nil)
	found := false
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, d := range page.Value {
			if *d.Name == "prefect-cg-tags" {
				found = d.Tags["aciworker.pool"] != nil && *d.Tags["aciworker.pool"] == "p1"
			}
		}
	}
	if !found {
		t.Fatal("the listed deployment lacks its tags")
	}
	err = deploy("prefect-cg-badtag", map[string]*string{"a/b": to.Ptr("x")})
	if code := errorCode(t, err); code != "InvalidTagNameCharacters" {
		t.Fatalf("bad tag name: code %s (%v)", code, err)
	}
	if _, err := s.deploy.Get(ctx, s.set.ResourceGroup, "prefect-cg-badtag", nil); errorCode(t, err) != "DeploymentNotFound" {
		t.Fatalf("a refused deployment was recorded: %v", err)
	}
}
