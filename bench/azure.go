package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armdeployments"
)

// inventory lists and removes what the workers left in the emulator's
// resource group, through the official SDK like any Azure client. It runs
// after a row's counters are read, so its own requests are not charged to a
// worker.
type inventory struct {
	rg     string
	groups *armcontainerinstance.ContainerGroupsClient
	deps   *armdeployments.DeploymentsClient
}

func newInventory(env map[string]string, httpClient *http.Client) (*inventory, error) {
	armURL := env["ACIWORKER_ARM_ENDPOINT"]
	authority := env["AZURE_AUTHORITY_HOST"]
	for k, v := range map[string]string{"ACIWORKER_ARM_ENDPOINT": armURL, "AZURE_AUTHORITY_HOST": authority,
		"AZURE_SUBSCRIPTION_ID": env["AZURE_SUBSCRIPTION_ID"], "AZURE_RESOURCE_GROUP": env["AZURE_RESOURCE_GROUP"]} {
		if v == "" {
			return nil, fmt.Errorf("emulator printed no %s", k)
		}
	}
	cfg := cloud.AzurePublic
	cfg.ActiveDirectoryAuthorityHost = authority
	cfg.Services = map[cloud.ServiceName]cloud.ServiceConfiguration{
		cloud.ResourceManager: {Endpoint: armURL, Audience: cloud.AzurePublic.Services[cloud.ResourceManager].Audience},
	}
	copts := policy.ClientOptions{Cloud: cfg, Transport: httpClient}
	cred, err := azidentity.NewClientSecretCredential(env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"],
		&azidentity.ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		return nil, fmt.Errorf("inventory credential: %w", err)
	}
	aopts := &arm.ClientOptions{ClientOptions: copts}
	sub := env["AZURE_SUBSCRIPTION_ID"]
	groups, err := armcontainerinstance.NewContainerGroupsClient(sub, cred, aopts)
	if err != nil {
		return nil, fmt.Errorf("inventory groups client: %w", err)
	}
	deps, err := armdeployments.NewDeploymentsClient(sub, cred, aopts)
	if err != nil {
		return nil, fmt.Errorf("inventory deployments client: %w", err)
	}
	return &inventory{rg: env["AZURE_RESOURCE_GROUP"], groups: groups, deps: deps}, nil
}

// listGroups returns the names of the container groups in the resource group.
func (v *inventory) listGroups(ctx context.Context) ([]string, error) {
	var names []string
	p := v.groups.NewListByResourceGroupPager(v.rg, nil)
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list container groups in %s: %w", v.rg, err)
		}
		for _, g := range page.Value {
			if g != nil && g.Name != nil {
				names = append(names, *g.Name)
			}
		}
	}
	return names, nil
}

// listDeployments returns the names of the prefect-* deployment records.
func (v *inventory) listDeployments(ctx context.Context) ([]string, error) {
	var names []string
	p := v.deps.NewListByResourceGroupPager(v.rg, nil)
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list deployments in %s: %w", v.rg, err)
		}
		for _, d := range page.Value {
			if d != nil && d.Name != nil && strings.HasPrefix(*d.Name, "prefect-") {
				names = append(names, *d.Name)
			}
		}
	}
	return names, nil
}

// clear deletes every listed group and deployment record so the next row
// starts from an empty resource group.
func (v *inventory) clear(ctx context.Context, groups, deployments []string) error {
	var errs []error
	for _, g := range groups {
		p, err := v.groups.BeginDelete(ctx, v.rg, g, nil)
		if err == nil {
			_, err = p.PollUntilDone(ctx, nil)
		}
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete container group %s: %w", g, err))
		}
	}
	for _, d := range deployments {
		p, err := v.deps.BeginDelete(ctx, v.rg, d, nil)
		if err == nil {
			_, err = p.PollUntilDone(ctx, nil)
		}
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete deployment %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

func isNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}
