package emulator_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/emutest"
)

func TestARMAuthentication(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	good := newRaw(t, s)
	path := groupsPath(s.set, "") + "?api-version=2023-05-01"

	tests := []struct {
		name, authz, code string
	}{
		{"missing", "", "AuthenticationFailed"},
		{"not bearer", "Basic abc", "AuthenticationFailed"},
		{"unknown token", "Bearer not-a-token", "InvalidAuthenticationToken"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &raw{t: t, e: e}
			var r rawResp
			if tc.authz == "" {
				r = c.do("GET", path, nil)
			} else {
				r = c.do("GET", path, nil, "Authorization", tc.authz)
			}
			if r.status != http.StatusUnauthorized || r.code() != tc.code || r.header.Get("x-ms-error-code") != tc.code {
				t.Fatalf("status %d code %s, want 401 %s", r.status, r.code(), tc.code)
			}
			wa := r.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(wa, "Bearer authorization_uri=") || !strings.Contains(wa, `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate %q", wa)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		e.SetTokenLifetime(time.Nanosecond)
		defer e.SetTokenLifetime(0)
		r := good.token2(url.Values{"grant_type": {"client_credentials"}, "client_id": {s.set.ClientID},
			"client_secret": {s.set.ClientSecret}, "scope": {"https://management.azure.com/.default"}}, s.set.TenantID)
		if r.status != 200 {
			t.Fatalf("token: %d %s", r.status, r.body)
		}
		tok, _ := r.json(t)["access_token"].(string)
		c := &raw{t: t, e: e, token: tok}
		got := c.do("GET", path, nil)
		if got.status != 401 || got.code() != "ExpiredAuthenticationToken" {
			t.Fatalf("status %d code %s", got.status, got.code())
		}
	})
	if r := good.do("GET", path, nil); r.status != 200 {
		t.Fatalf("valid token: %d %s", r.status, r.body)
	}
}

func TestEntraErrors(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	set := e.Settings()
	c := &raw{t: t, e: e}
	form := func(mut func(url.Values)) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {set.ClientID},
			"client_secret": {set.ClientSecret}, "scope": {"https://management.core.windows.net//.default openid offline_access profile"}}
		if mut != nil {
			mut(v)
		}
		return v
	}
	tests := []struct {
		name   string
		tenant string
		mut    func(url.Values)
		status int
		err    string
		aadsts int
	}{
		{"ok", set.TenantID, nil, 200, "", 0},
		{"ok upper-case tenant", strings.ToUpper(set.TenantID), nil, 200, "", 0},
		{"wrong secret", set.TenantID, func(v url.Values) { v.Set("client_secret", "nope") }, 401, "invalid_client", 7000215},
		{"unknown client", set.TenantID, func(v url.Values) { v.Set("client_id", "00000000-0000-0000-0000-000000000000") }, 400, "unauthorized_client", 700016},
		{"unknown tenant", "11111111-2222-3333-4444-555555555555", nil, 400, "invalid_tenant", 90002},
		{"bad grant", set.TenantID, func(v url.Values) { v.Set("grant_type", "password") }, 400, "unsupported_grant_type", 70003},
		{"scope without .default", set.TenantID, func(v url.Values) { v.Set("scope", "https://management.azure.com/") }, 400, "invalid_scope", 70011},
		{"unknown resource", set.TenantID, func(v url.Values) { v.Set("scope", "https://vault.azure.net/.default") }, 400, "invalid_resource", 500011},
		{"public ARM scope", set.TenantID, func(v url.Values) { v.Set("scope", "https://management.azure.com/.default") }, 200, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.token2(form(tc.mut), tc.tenant)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			m := r.json(t)
			if tc.status == 200 {
				if m["token_type"] != "Bearer" || m["access_token"] == "" || fmt.Sprint(m["expires_in"]) != "3599" {
					t.Fatalf("token response %v", m)
				}
				return
			}
			codes, _ := m["error_codes"].([]any)
			if m["error"] != tc.err || len(codes) != 1 || codes[0] != float64(tc.aadsts) ||
				!strings.HasPrefix(m["error_description"].(string), fmt.Sprintf("AADSTS%d:", tc.aadsts)) ||
				m["trace_id"] == nil || m["correlation_id"] == nil || m["timestamp"] == nil {
				t.Fatalf("error body %v", m)
			}
			mustNotContain(t, "token error", r.body, set.ClientSecret)
		})
	}
	// azidentity surfaces the AADSTS code for a wrong secret.
	cred, err := azidentity.NewClientSecretCredential(set.TenantID, set.ClientID, "wrong",
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(e), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{"https://management.core.windows.net//.default"}})
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("GetToken with a wrong secret: %v", err)
	}
}

// MSAL clients that keep instance discovery on ask login.microsoftonline.com
// first; the emulator answers it when that name is routed to it.
func TestInstanceDiscoveryEnabled(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t, func(c *emulator.Config) {
		c.TLSNames = []string{"127.0.0.1", "localhost", "login.microsoftonline.com"}
	})
	set := e.Settings()
	cred, err := azidentity.NewClientSecretCredential(set.TenantID, set.ClientID, set.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(e)})
	if err != nil {
		t.Fatal(err)
	}
	gc, err := armcontainerinstance.NewContainerGroupsClient(set.SubscriptionID, cred, &arm.ClientOptions{ClientOptions: clientOptions(e)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gc.NewListByResourceGroupPager(set.ResourceGroup, nil).NextPage(ctxT(t)); err != nil {
		t.Fatalf("list with discovery on: %v", err)
	}
	c := e.Counters()
	if c.Count("instanceDiscovery") < 1 || c.Count("token") != 1 || c.Count("containerGroups.list") != 1 {
		t.Fatalf("counters %v", c.ByOp)
	}
}

func TestAPIVersionsAndRouting(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	ctx := ctxT(t)
	if _, err := createGroup(ctx, s, "mixed-case-check", validGroup()); err != nil {
		t.Fatal(err)
	}
	c := newRaw(t, s)
	set := s.set
	depl := "/subscriptions/" + set.SubscriptionID + "/resourcegroups/" + set.ResourceGroup + "/providers/Microsoft.Resources/deployments"
	tests := []struct {
		name, path string
		status     int
		code       string
	}{
		{"missing api-version", groupsPath(set, "mixed-case-check"), 400, "MissingApiVersionParameter"},
		{"unknown aci version", groupsPath(set, "mixed-case-check") + "?api-version=2099-01-01", 400, "NoRegisteredProviderFound"},
		{"unknown deployments version", depl + "?api-version=2099-01-01", 400, "InvalidApiVersionParameter"},
		{"older aci version", groupsPath(set, "mixed-case-check") + "?api-version=2022-09-01", 200, ""},
		{"older deployments version", depl + "?api-version=2021-04-01", 200, ""},
		{"case-insensitive path and names", strings.ToUpper(groupsPath(set, "mixed-case-check")) + "?api-version=2023-05-01", 200, ""},
		{"missing group", groupsPath(set, "nope") + "?api-version=2023-05-01", 404, "ResourceNotFound"},
		{"missing resource group", "/subscriptions/" + set.SubscriptionID + "/resourceGroups/nope/providers/Microsoft.ContainerInstance/containerGroups/x?api-version=2023-05-01", 404, "ResourceGroupNotFound"},
		{"other subscription", "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/x?api-version=2021-04-01", 404, "SubscriptionNotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("GET", tc.path, nil)
			if r.status != tc.status || r.code() != tc.code {
				t.Fatalf("status %d code %q, want %d %q: %s", r.status, r.code(), tc.status, tc.code, r.body)
			}
			if r.header.Get("x-ms-request-id") == "" || r.header.Get("x-ms-correlation-request-id") == "" {
				t.Fatalf("request id headers missing: %v", r.header)
			}
			if tc.code != "" && r.header.Get("x-ms-error-code") != tc.code {
				t.Fatalf("x-ms-error-code %q", r.header.Get("x-ms-error-code"))
			}
			if tc.name == "case-insensitive path and names" {
				m := r.json(t)
				if m["name"] != "mixed-case-check" || !strings.Contains(m["id"].(string), "/resourceGroups/"+set.ResourceGroup+"/") {
					t.Fatalf("names not echoed as created: %v %v", m["name"], m["id"])
				}
			}
		})
	}
}

func TestResourceGroups(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	c := newRaw(t, s)
	base := "/subscriptions/" + s.set.SubscriptionID + "/resourcegroups/"
	if r := c.do("PUT", base+"Extra-RG?api-version=2021-04-01", map[string]any{"location": "westeurope", "tags": map[string]any{"a": "b"}}); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := c.do("PUT", base+"extra-rg?api-version=2021-04-01", map[string]any{"location": "westeurope"}); r.status != 200 || r.json(t)["name"] != "Extra-RG" {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	if r := c.do("PUT", base+"extra-rg?api-version=2021-04-01", map[string]any{"location": "eastus"}); r.status != 409 || r.code() != "InvalidResourceGroupLocation" {
		t.Fatalf("relocate: %d %s", r.status, r.body)
	}
	if r := c.do("PUT", base+"bad%20name?api-version=2021-04-01", map[string]any{"location": "eastus"}); r.status != 400 || r.code() != "InvalidResourceGroupName" {
		t.Fatalf("bad name: %d %s", r.status, r.body)
	}
	if r := c.do("HEAD", base+"EXTRA-rg?api-version=2021-04-01", nil); r.status != 204 {
		t.Fatalf("head: %d", r.status)
	}
	r := c.do("GET", base+"?api-version=2021-04-01", nil)
	if v, _ := r.json(t)["value"].([]any); len(v) != 2 {
		t.Fatalf("list: %s", r.body)
	}
	// Deleting a group removes its container groups.
	g := validGroup("sleep", "30")
	g.Location = to.Ptr("westeurope")
	body, _ := json.Marshal(g)
	var gm map[string]any
	_ = json.Unmarshal(body, &gm)
	if r := c.do("PUT", base+"extra-rg/providers/Microsoft.ContainerInstance/containerGroups/sleeper?api-version=2023-05-01", gm); r.status != 201 {
		t.Fatalf("create group: %d %s", r.status, r.body)
	}
	r = c.do("DELETE", base+"extra-rg?api-version=2021-04-01", nil)
	if r.status != 202 || !strings.HasPrefix(r.header.Get("Location"), "https://") {
		t.Fatalf("delete: %d %v", r.status, r.header)
	}
	loc := strings.TrimPrefix(r.header.Get("Location"), e.URL())
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := c.do("GET", loc, nil)
		if p.status == 204 {
			break
		}
		if p.status != 202 || time.Now().After(deadline) {
			t.Fatalf("delete poll: %d %s", p.status, p.body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := c.do("GET", base+"extra-rg?api-version=2021-04-01", nil); r.status != 404 || r.code() != "ResourceGroupNotFound" {
		t.Fatalf("after delete: %d %s", r.status, r.body)
	}
}
