package emulator_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	azruntime "github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armsubscriptions/v2"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/emutest"
)

// cloudMetadata is the part of a cloud metadata document a client needs to
// configure itself.
type cloudMetadata struct {
	Name            string `json:"name"`
	ResourceManager string `json:"resourceManager"`
	Authentication  struct {
		LoginEndpoint string   `json:"loginEndpoint"`
		Audiences     []string `json:"audiences"`
		Tenant        string   `json:"tenant"`
	} `json:"authentication"`
	Suffixes map[string]string `json:"suffixes"`
}

// cloudFromMetadata reads the emulator's metadata document the way a client
// of a custom cloud does, with no token, and builds the SDK's cloud
// configuration from it alone.
func cloudFromMetadata(t *testing.T, e *emulator.Emulator) (cloud.Configuration, cloudMetadata) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, e.URL()+"/metadata/endpoints?api-version=2022-09-01", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.Client().Do(req)
	if err != nil {
		t.Fatalf("GET metadata: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET metadata: %s", resp.Status)
	}
	var md cloudMetadata
	dec := json.NewDecoder(resp.Body)
	if err := dec.Decode(&md); err != nil {
		t.Fatalf("decode metadata: %v", err)
	}
	if md.ResourceManager == "" || md.Authentication.LoginEndpoint == "" || len(md.Authentication.Audiences) == 0 {
		t.Fatalf("metadata lacks endpoints: %+v", md)
	}
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: md.Authentication.LoginEndpoint,
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: md.ResourceManager, Audience: md.Authentication.Audiences[0]},
		},
	}, md
}

func TestMetadataDocumentPointsAtTheEmulator(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	_, md := cloudFromMetadata(t, e)
	host := strings.TrimPrefix(e.URL(), "https://")
	for _, c := range []struct{ field, got string }{
		{"resourceManager", md.ResourceManager},
		{"authentication.loginEndpoint", md.Authentication.LoginEndpoint},
	} {
		if !strings.Contains(c.got, host) {
			t.Errorf("%s = %q, want the emulator's host %s", c.field, c.got, host)
		}
	}
	if md.Name == "" || md.Authentication.Tenant == "" || md.Suffixes["acrLoginServer"] == "" {
		t.Errorf("metadata lacks name, tenant or suffixes: %+v", md)
	}
}

// TestDiscoveryThroughTheSDK configures the official SDK from the metadata
// document alone and asks what a general Azure client asks first.
func TestDiscoveryThroughTheSDK(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	set := e.Settings()
	cfg, _ := cloudFromMetadata(t, e)
	co := azcore.ClientOptions{Cloud: cfg, Transport: e.Client()}
	cred, err := azidentity.NewClientSecretCredential(set.TenantID, set.ClientID, set.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	ao := &arm.ClientOptions{ClientOptions: co}
	subs, err := armsubscriptions.NewClient(cred, ao)
	if err != nil {
		t.Fatal(err)
	}
	tenants, err := armsubscriptions.NewTenantsClient(cred, ao)
	if err != nil {
		t.Fatal(err)
	}
	provs, err := armresources.NewProvidersClient(set.SubscriptionID, cred, ao)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)

	checkSub := func(t *testing.T, s *armsubscriptions.Subscription) {
		t.Helper()
		if s == nil || str(s.SubscriptionID) != set.SubscriptionID || str(s.TenantID) != set.TenantID ||
			str(s.ID) != "/subscriptions/"+set.SubscriptionID || str(s.DisplayName) == "" ||
			s.State == nil || *s.State != armsubscriptions.SubscriptionStateEnabled || s.SubscriptionPolicies == nil ||
			s.SubscriptionPolicies.SpendingLimit == nil {
			t.Fatalf("subscription: %s", mustJSON(s))
		}
	}
	checkProvider := func(t *testing.T, p armresources.Provider, ns string, atTenant bool, typ, version string) {
		t.Helper()
		if str(p.Namespace) != ns {
			t.Fatalf("namespace %q, want %q", str(p.Namespace), ns)
		}
		if atTenant != (p.RegistrationState == nil) {
			t.Fatalf("registrationState %v at tenant scope %v", p.RegistrationState, atTenant)
		}
		if !atTenant && (str(p.RegistrationState) != "Registered" || str(p.ID) != "/subscriptions/"+set.SubscriptionID+"/providers/"+ns) {
			t.Fatalf("provider: %s", mustJSON(p))
		}
		for _, rt := range p.ResourceTypes {
			if strings.EqualFold(str(rt.ResourceType), typ) {
				if !slices.Contains(strs(rt.APIVersions), version) {
					t.Fatalf("%s/%s lacks api-version %s: %v", ns, typ, version, strs(rt.APIVersions))
				}
				return
			}
		}
		t.Fatalf("%s lists no resource type %s", ns, typ)
	}

	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"subscriptions list", func(t *testing.T) {
			got := all(t, subs.NewListPager(nil), func(p armsubscriptions.ClientListResponse) []*armsubscriptions.Subscription { return p.Value })
			if len(got) != 1 {
				t.Fatalf("%d subscriptions", len(got))
			}
			checkSub(t, got[0])
		}},
		{"subscriptions get", func(t *testing.T) {
			r, err := subs.Get(ctx, set.SubscriptionID, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkSub(t, &r.Subscription)
		}},
		{"subscriptions get unknown", func(t *testing.T) {
			_, err := subs.Get(ctx, "00000000-0000-0000-0000-000000000000", nil)
			wantCode(t, err, http.StatusNotFound, "SubscriptionNotFound")
		}},
		{"tenants list", func(t *testing.T) {
			got := all(t, tenants.NewListPager(nil), func(p armsubscriptions.TenantsClientListResponse) []*armsubscriptions.TenantIDDescription {
				return p.Value
			})
			if len(got) != 1 || str(got[0].TenantID) != set.TenantID || str(got[0].ID) != "/tenants/"+set.TenantID {
				t.Fatalf("tenants: %s", mustJSON(got))
			}
		}},
		{"locations list", func(t *testing.T) {
			var names []string
			for _, l := range all(t, subs.NewListLocationsPager(set.SubscriptionID, nil), func(p armsubscriptions.ClientListLocationsResponse) []*armsubscriptions.Location { return p.Value }) {
				if str(l.DisplayName) == "" || l.Type == nil || *l.Type != armsubscriptions.LocationTypeRegion {
					t.Fatalf("location: %s", mustJSON(l))
				}
				names = append(names, str(l.Name))
			}
			if !slices.Contains(names, set.Location) {
				t.Fatalf("locations %v lack the emulator's %s", names, set.Location)
			}
		}},
		{"provider get unknown", func(t *testing.T) {
			_, err := provs.Get(ctx, "Microsoft.Nope", nil)
			wantCode(t, err, http.StatusNotFound, "InvalidResourceNamespace")
		}},
		{"providers list", func(t *testing.T) {
			var got []string
			for _, p := range all(t, provs.NewListPager(nil), func(p armresources.ProvidersClientListResponse) []*armresources.Provider { return p.Value }) {
				got = append(got, str(p.Namespace))
			}
			for _, ns := range []string{"Microsoft.ContainerInstance", "Microsoft.Resources"} {
				if !slices.Contains(got, ns) {
					t.Fatalf("providers %v lack %s", got, ns)
				}
			}
		}},
		{"providers list at tenant scope", func(t *testing.T) {
			n := len(all(t, provs.NewListAtTenantScopePager(nil), func(p armresources.ProvidersClientListAtTenantScopeResponse) []*armresources.Provider { return p.Value }))
			if n < 2 {
				t.Fatalf("%d providers at tenant scope", n)
			}
		}},
	} {
		t.Run(tc.name, tc.run)
	}

	type got = func() (armresources.Provider, error)
	for _, tc := range []struct {
		name            string
		get             got
		ns              string
		atTenant        bool
		typ, apiVersion string
	}{
		{"provider get ACI", func() (armresources.Provider, error) {
			r, err := provs.Get(ctx, "Microsoft.ContainerInstance", nil)
			return r.Provider, err
		}, "Microsoft.ContainerInstance", false, "containerGroups", "2023-05-01"},
		{"provider get Resources, case-insensitive", func() (armresources.Provider, error) {
			r, err := provs.Get(ctx, "microsoft.resources", nil)
			return r.Provider, err
		}, "Microsoft.Resources", false, "deployments", "2025-04-01"},
		{"provider get at tenant scope", func() (armresources.Provider, error) {
			r, err := provs.GetAtTenantScope(ctx, "Microsoft.ContainerInstance", nil)
			return r.Provider, err
		}, "Microsoft.ContainerInstance", true, "containerGroups", "2023-05-01"},
		{"provider register", func() (armresources.Provider, error) {
			r, err := provs.Register(ctx, "Microsoft.ContainerInstance", nil)
			return r.Provider, err
		}, "Microsoft.ContainerInstance", false, "locations/operations", "2023-05-01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.get()
			if err != nil {
				t.Fatal(err)
			}
			checkProvider(t, p, tc.ns, tc.atTenant, tc.typ, tc.apiVersion)
		})
	}
}

// all reads every page of a pager.
func all[R, T any](t *testing.T, pg *azruntime.Pager[R], items func(R) []T) []T {
	t.Helper()
	var out []T
	for pg.More() {
		page, err := pg.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, items(page)...)
	}
	return out
}

func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("got %v, want %d %s", err, status, code)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func strs(ps []*string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, str(p))
	}
	return out
}

// TestUnservedOperations: what a client gets for an operation the emulator
// does not serve, in ARM's error shape, naming what it asked for.
func TestUnservedOperations(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	c := newRaw(t, s)
	rg := "/subscriptions/" + s.set.SubscriptionID + "/resourceGroups/" + s.set.ResourceGroup
	for _, tc := range []struct {
		method, path string
		status       int
		code, msg    string
	}{
		{"GET", rg + "/providers/Microsoft.Storage/storageAccounts/a?api-version=2023-01-01", 404, "InvalidResourceType",
			"The resource type 'storageAccounts' could not be found in the namespace 'Microsoft.Storage' for api version '2023-01-01'."},
		{"POST", rg + "/providers/Microsoft.ContainerInstance/containerGroups/g/containers/c/exec?api-version=2023-05-01", 404, "InvalidResourceType",
			"The resource type 'containerGroups/containers/exec' could not be found in the namespace 'Microsoft.ContainerInstance' for api version '2023-05-01'."},
		{"GET", rg + "/resources?api-version=2021-04-01", 404, "InvalidResourceType", "for the request path '" + rg + "/resources' and method 'GET'"},
		{"DELETE", "/subscriptions/" + s.set.SubscriptionID + "?api-version=2022-12-01", 405, "MethodNotAllowed", "'DELETE'"},
	} {
		r := c.do(tc.method, tc.path, nil)
		if r.status != tc.status || r.code() != tc.code || !strings.Contains(string(r.body), tc.msg) || r.header.Get("x-ms-error-code") != tc.code {
			t.Errorf("%s %s: %d %s, want %d %s with %q", tc.method, tc.path, r.status, r.body, tc.status, tc.code, tc.msg)
		}
	}
}
