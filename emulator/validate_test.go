package emulator_test

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/emutest"
)

// validGroup is a container group Azure accepts; tests break one thing.
func validGroup(command ...string) armcontainerinstance.ContainerGroup {
	if len(command) == 0 {
		command = []string{"true"}
	}
	return armcontainerinstance.ContainerGroup{
		Location: to.Ptr("eastus"),
		Properties: &armcontainerinstance.ContainerGroupPropertiesProperties{
			OSType:        to.Ptr(armcontainerinstance.OperatingSystemTypesLinux),
			RestartPolicy: to.Ptr(armcontainerinstance.ContainerGroupRestartPolicyNever),
			Containers: []*armcontainerinstance.Container{{
				Name: to.Ptr("main"),
				Properties: &armcontainerinstance.ContainerProperties{
					Image:   to.Ptr("alpine:3"),
					Command: to.SliceOfPtrs(command...),
					Resources: &armcontainerinstance.ResourceRequirements{
						Requests: &armcontainerinstance.ResourceRequests{CPU: to.Ptr(1.0), MemoryInGB: to.Ptr(1.0)},
					},
				},
			}},
		},
	}
}

const uai = "/subscriptions/6d1e9b3c-2a7f-4e58-b0c4-7f3a9d2e1c65/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/puller"

func createGroup(ctx context.Context, s *sdk, name string, g armcontainerinstance.ContainerGroup) (armcontainerinstance.ContainerGroupsClientCreateOrUpdateResponse, error) {
	p, err := s.groups.BeginCreateOrUpdate(ctx, s.set.ResourceGroup, name, g, nil)
	if err != nil {
		return armcontainerinstance.ContainerGroupsClientCreateOrUpdateResponse{}, err
	}
	return p.PollUntilDone(ctx, fast)
}

func TestContainerGroupValidation(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	ctx := ctxT(t)
	c0 := func(g *armcontainerinstance.ContainerGroup) *armcontainerinstance.ContainerProperties {
		return g.Properties.Containers[0].Properties
	}
	tests := []struct {
		name   string
		group  string
		mutate func(*armcontainerinstance.ContainerGroup)
		code   string
	}{
		{"group name upper case", "Bad-Name", nil, "InvalidContainerGroupName"},
		{"group name underscore", "bad_name", nil, "InvalidContainerGroupName"},
		{"group name leading hyphen", "-bad", nil, "InvalidContainerGroupName"},
		{"group name trailing hyphen", "bad-", nil, "InvalidContainerGroupName"},
		{"group name double hyphen", "bad--name", nil, "InvalidContainerGroupName"},
		{"group name too long", "a234567890123456789012345678901234567890123456789012345678901234", nil, "InvalidContainerGroupName"},
		{"location missing", "ok", func(g *armcontainerinstance.ContainerGroup) { g.Location = nil }, "LocationRequired"},
		{"location unknown", "ok", func(g *armcontainerinstance.ContainerGroup) { g.Location = to.Ptr("moon") }, "LocationNotAvailableForResourceType"},
		{"os type missing", "ok", func(g *armcontainerinstance.ContainerGroup) { g.Properties.OSType = nil }, "InvalidOsType"},
		{"os type bad", "ok", func(g *armcontainerinstance.ContainerGroup) {
			g.Properties.OSType = to.Ptr(armcontainerinstance.OperatingSystemTypes("Plan9"))
		}, "InvalidOsType"},
		{"restart policy bad", "ok", func(g *armcontainerinstance.ContainerGroup) {
			g.Properties.RestartPolicy = to.Ptr(armcontainerinstance.ContainerGroupRestartPolicy("Sometimes"))
		}, "InvalidRestartPolicy"},
		{"containers missing", "ok", func(g *armcontainerinstance.ContainerGroup) { g.Properties.Containers = nil }, "InvalidRequestContent"},
		{"containers empty", "ok", func(g *armcontainerinstance.ContainerGroup) {
			g.Properties.Containers = []*armcontainerinstance.Container{}
		}, "NoContainersInContainerGroup"},
		{"container name bad", "ok", func(g *armcontainerinstance.ContainerGroup) { g.Properties.Containers[0].Name = to.Ptr("Main_1") }, "InvalidContainerName"},
		{"container names duplicate", "ok", func(g *armcontainerinstance.ContainerGroup) {
			cp := *g.Properties.Containers[0]
			g.Properties.Containers = append(g.Properties.Containers, &cp)
		}, "DuplicateContainerName"},
		{"image missing", "ok", func(g *armcontainerinstance.ContainerGroup) { c0(g).Image = nil }, "InvalidRequestContent"},
		{"image empty", "ok", func(g *armcontainerinstance.ContainerGroup) { c0(g).Image = to.Ptr("") }, "InvalidContainerImage"},
		{"resources missing", "ok", func(g *armcontainerinstance.ContainerGroup) { c0(g).Resources = nil }, "ResourceRequestsNotSpecified"},
		{"cpu missing", "ok", func(g *armcontainerinstance.ContainerGroup) { c0(g).Resources.Requests.CPU = nil }, "ResourceRequestsNotSpecified"},
		{"memory missing", "ok", func(g *armcontainerinstance.ContainerGroup) { c0(g).Resources.Requests.MemoryInGB = nil }, "ResourceRequestsNotSpecified"},
		{"cpu zero", "ok", func(g *armcontainerinstance.ContainerGroup) { c0(g).Resources.Requests.CPU = to.Ptr(0.0) }, "InvalidContainerResourceRequest"},
		{"cpu too big", "ok", func(g *armcontainerinstance.ContainerGroup) { c0(g).Resources.Requests.CPU = to.Ptr(4.5) }, "InvalidContainerResourceRequest"},
		{"memory negative", "ok", func(g *armcontainerinstance.ContainerGroup) { c0(g).Resources.Requests.MemoryInGB = to.Ptr(-1.0) }, "InvalidContainerResourceRequest"},
		{"memory too big", "ok", func(g *armcontainerinstance.ContainerGroup) { c0(g).Resources.Requests.MemoryInGB = to.Ptr(17.0) }, "InvalidContainerResourceRequest"},
		{"limit below request", "ok", func(g *armcontainerinstance.ContainerGroup) {
			c0(g).Resources.Limits = &armcontainerinstance.ResourceLimits{CPU: to.Ptr(0.5)}
		}, "ContainerLimitLessThanRequest"},
		{"env name bad", "ok", func(g *armcontainerinstance.ContainerGroup) {
			c0(g).EnvironmentVariables = []*armcontainerinstance.EnvironmentVariable{{Name: to.Ptr("BAD-NAME"), Value: to.Ptr("x")}}
		}, "InvalidEnvironmentVariableName"},
		{"env value and secure value", "ok", func(g *armcontainerinstance.ContainerGroup) {
			c0(g).EnvironmentVariables = []*armcontainerinstance.EnvironmentVariable{{Name: to.Ptr("A"), Value: to.Ptr("x"), SecureValue: to.Ptr("y")}}
		}, "InvalidEnvironmentVariable"},
		{"env neither value", "ok", func(g *armcontainerinstance.ContainerGroup) {
			c0(g).EnvironmentVariables = []*armcontainerinstance.EnvironmentVariable{{Name: to.Ptr("A")}}
		}, "InvalidEnvironmentVariable"},
		{"env duplicate", "ok", func(g *armcontainerinstance.ContainerGroup) {
			c0(g).EnvironmentVariables = []*armcontainerinstance.EnvironmentVariable{{Name: to.Ptr("A"), Value: to.Ptr("1")}, {Name: to.Ptr("A"), Value: to.Ptr("2")}}
		}, "DuplicateEnvironmentVariableName"},
		{"identity type bad", "ok", func(g *armcontainerinstance.ContainerGroup) {
			g.Identity = &armcontainerinstance.ContainerGroupIdentity{Type: to.Ptr(armcontainerinstance.ResourceIdentityType("Everyone"))}
		}, "InvalidIdentityType"},
		{"identity id not a resource id", "ok", func(g *armcontainerinstance.ContainerGroup) {
			g.Identity = &armcontainerinstance.ContainerGroupIdentity{
				Type:                   to.Ptr(armcontainerinstance.ResourceIdentityTypeUserAssigned),
				UserAssignedIdentities: map[string]*armcontainerinstance.UserAssignedIdentities{"puller": {}},
			}
		}, "InvalidUserAssignedIdentityId"},
		{"user assigned without ids", "ok", func(g *armcontainerinstance.ContainerGroup) {
			g.Identity = &armcontainerinstance.ContainerGroupIdentity{Type: to.Ptr(armcontainerinstance.ResourceIdentityTypeUserAssigned)}
		}, "BadRequest"},
		{"registry server missing", "ok", func(g *armcontainerinstance.ContainerGroup) {
			g.Properties.ImageRegistryCredentials = []*armcontainerinstance.ImageRegistryCredential{{Username: to.Ptr("u"), Password: to.Ptr("p")}}
		}, "InvalidImageRegistryServer"},
		{"registry without credentials", "ok", func(g *armcontainerinstance.ContainerGroup) {
			g.Properties.ImageRegistryCredentials = []*armcontainerinstance.ImageRegistryCredential{{Server: to.Ptr("r.azurecr.io")}}
		}, "InvalidImageRegistryCredential"},
		{"registry identity not on group", "ok", func(g *armcontainerinstance.ContainerGroup) {
			g.Properties.ImageRegistryCredentials = []*armcontainerinstance.ImageRegistryCredential{{Server: to.Ptr("r.azurecr.io"), Identity: to.Ptr(uai)}}
		}, "InvalidImageRegistryCredentialIdentity"},
		{"registry identity and password", "ok", func(g *armcontainerinstance.ContainerGroup) {
			g.Properties.ImageRegistryCredentials = []*armcontainerinstance.ImageRegistryCredential{{Server: to.Ptr("r.azurecr.io"), Identity: to.Ptr(uai), Username: to.Ptr("u"), Password: to.Ptr("p")}}
		}, "InvalidImageRegistryCredentialType"},
		{"subnet id bad", "ok", func(g *armcontainerinstance.ContainerGroup) {
			g.Properties.SubnetIDs = []*armcontainerinstance.ContainerGroupSubnetID{{ID: to.Ptr("subnet-1")}}
		}, "InvalidSubnetId"},
		{"dns config without servers", "ok", func(g *armcontainerinstance.ContainerGroup) {
			g.Properties.DNSConfig = &armcontainerinstance.DNSConfiguration{Options: to.Ptr("ndots:2")}
		}, "InvalidRequestContent"},
		{"dns config empty servers", "ok", func(g *armcontainerinstance.ContainerGroup) {
			g.Properties.DNSConfig = &armcontainerinstance.DNSConfiguration{NameServers: []*string{}}
		}, "InvalidDnsConfig"},
		{"gpu retired", "ok", func(g *armcontainerinstance.ContainerGroup) {
			c0(g).Resources.Requests.Gpu = &armcontainerinstance.GpuResource{Count: to.Ptr[int32](1), SKU: to.Ptr(armcontainerinstance.GpuSKUV100)}
		}, "ServiceUnavailable"},
		{"gpu count bad", "ok", func(g *armcontainerinstance.ContainerGroup) {
			c0(g).Resources.Requests.Gpu = &armcontainerinstance.GpuResource{Count: to.Ptr[int32](3), SKU: to.Ptr(armcontainerinstance.GpuSKUV100)}
		}, "InvalidGpuCount"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := validGroup()
			if tc.mutate != nil {
				tc.mutate(&g)
			}
			_, err := createGroup(ctx, s, tc.group, g)
			if err == nil {
				t.Fatalf("accepted; want %s", tc.code)
			}
			if got := errorCode(t, err); got != tc.code {
				t.Fatalf("code %s, want %s (%v)", got, tc.code, err)
			}
		})
	}
	// Nothing invalid was created.
	pager := s.groups.NewListByResourceGroupPager(s.set.ResourceGroup, nil)
	page, err := pager.NextPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Value) != 0 {
		t.Fatalf("%d groups exist after only invalid requests", len(page.Value))
	}
}

func TestContainerGroupValidShapesAccepted(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	ctx := ctxT(t)
	g := validGroup()
	g.Identity = &armcontainerinstance.ContainerGroupIdentity{
		Type:                   to.Ptr(armcontainerinstance.ResourceIdentityTypeUserAssigned),
		UserAssignedIdentities: map[string]*armcontainerinstance.UserAssignedIdentities{uai: {}},
	}
	g.Properties.ImageRegistryCredentials = []*armcontainerinstance.ImageRegistryCredential{{Server: to.Ptr("r.azurecr.io"), Identity: to.Ptr(uai)}}
	g.Properties.SubnetIDs = []*armcontainerinstance.ContainerGroupSubnetID{{ID: to.Ptr("/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/aci")}}
	g.Properties.DNSConfig = &armcontainerinstance.DNSConfiguration{NameServers: []*string{to.Ptr("10.0.0.10")}, SearchDomains: to.Ptr("a.com b.com")}
	g.Tags = map[string]*string{"aciworker-run": to.Ptr("r1")}
	res, err := createGroup(ctx, s, "shapes", g)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if *res.Tags["aciworker-run"] != "r1" || *res.Properties.ProvisioningState != "Succeeded" {
		t.Fatalf("unexpected result %+v", res.ContainerGroup)
	}
	if _, ok := res.Identity.UserAssignedIdentities[uai]; !ok {
		t.Fatalf("identity not echoed: %+v", res.Identity)
	}
}

func TestGPUAllowedBehindFlag(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t, func(c *emulator.Config) { c.AllowGPU = true })
	s := newSDK(t, e)
	ctx := ctxT(t)
	g := validGroup()
	g.Properties.Containers[0].Properties.Resources.Requests.Gpu = &armcontainerinstance.GpuResource{Count: to.Ptr[int32](1), SKU: to.Ptr(armcontainerinstance.GpuSKUV100)}
	res, err := createGroup(ctx, s, "gpu", g)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	gpu := res.Properties.Containers[0].Properties.Resources.Requests.Gpu
	if gpu == nil || *gpu.Count != 1 || *gpu.SKU != armcontainerinstance.GpuSKUV100 {
		t.Fatalf("gpu not recorded: %+v", gpu)
	}
}
