package emulator

import (
	"net/http"
	"strings"
)

// What a general Azure client asks before it touches a resource: the cloud
// metadata document, its subscriptions and tenants, the regions, and whether
// the resource providers it needs are registered. The shapes are those of
// Microsoft.Resources' subscriptions (2022-12-01) and providers (2025-04-01)
// APIs; the emulator has one tenant and one subscription.

// serveMetadata answers GET /metadata/endpoints in the single-cloud form a
// custom cloud serves: Resource Manager and the login endpoint are the
// emulator itself; services it does not emulate keep Azure's public values,
// so a client configured from it fails at those services' own hosts rather
// than at the emulator. ARM serves this document without a token, for any
// api-version.
func (e *Emulator) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, methodNotAllowed(r))
		return
	}
	base := e.baseFromHost(r.Host) + "/"
	writeJSON(w, http.StatusOK, map[string]any{
		"name":            "AciworkerEmulator",
		"resourceManager": base,
		"authentication": map[string]any{
			"loginEndpoint":    base,
			"audiences":        []string{"https://management.core.windows.net/", "https://management.azure.com/"},
			"tenant":           "common",
			"identityProvider": "AAD",
		},
		"portal":                                "https://portal.azure.com",
		"media":                                 "https://rest.media.azure.net",
		"graphAudience":                         "https://graph.windows.net/",
		"graph":                                 "https://graph.windows.net/",
		"batch":                                 "https://batch.core.windows.net/",
		"gallery":                               "https://gallery.azure.com/",
		"sqlManagement":                         "https://management.core.windows.net:8443/",
		"activeDirectoryDataLake":               "https://datalake.azure.net/",
		"microsoftGraphResourceId":              "https://graph.microsoft.com/",
		"appInsightsResourceId":                 "https://api.applicationinsights.io",
		"appInsightsTelemetryChannelResourceId": "https://dc.applicationinsights.azure.com/v2/track",
		"attestationResourceId":                 "https://attest.azure.net",
		"synapseAnalyticsResourceId":            "https://dev.azuresynapse.net",
		"logAnalyticsResourceId":                "https://api.loganalytics.io",
		"ossrDbmsResourceId":                    "https://ossrdbms-aad.database.windows.net",
		"vmImageAliasDoc":                       "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
		"suffixes": map[string]any{
			"acrLoginServer":                      "azurecr.io",
			"keyVaultDns":                         "vault.azure.net",
			"mhsmDns":                             "managedhsm.azure.net",
			"storage":                             "core.windows.net",
			"storageSyncEndpointSuffix":           "afs.azure.net",
			"sqlServerHostname":                   "database.windows.net",
			"mysqlServerEndpoint":                 "mysql.database.azure.com",
			"postgresqlServerEndpoint":            "postgres.database.azure.com",
			"mariadbServerEndpoint":               "mariadb.database.azure.com",
			"azureDataLakeStoreFileSystem":        "azuredatalakestore.net",
			"azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
			"azureFrontDoorEndpointSuffix":        "azurefd.net",
			"synapseAnalytics":                    "dev.azuresynapse.net",
			"attestationEndpoint":                 "attest.azure.net",
		},
	})
}

// serveDirectory answers the subscription, tenant and location lists.
func (e *Emulator) serveDirectory(q *armRequest) {
	if q.r.Method != http.MethodGet && q.r.Method != http.MethodHead {
		q.fail(methodNotAllowed(q.r))
		return
	}
	switch q.rt.kind {
	case kindTenants:
		q.json(http.StatusOK, map[string]any{"value": []any{e.tenantView()}})
	case kindLocations:
		q.json(http.StatusOK, map[string]any{"value": e.locationsView()})
	case kindSubscriptions:
		if q.rt.sub == "" {
			q.json(http.StatusOK, map[string]any{"value": []any{e.subscriptionView()}})
			return
		}
		q.json(http.StatusOK, e.subscriptionView())
	}
}

func (e *Emulator) subscriptionView() map[string]any {
	c := e.cfg
	return map[string]any{
		"id":                  "/subscriptions/" + c.SubscriptionID,
		"subscriptionId":      c.SubscriptionID,
		"tenantId":            c.TenantID,
		"displayName":         "aciworker emulator",
		"state":               "Enabled",
		"authorizationSource": "RoleBased",
		"managedByTenants":    []any{},
		"subscriptionPolicies": map[string]any{
			"locationPlacementId": "Public_2014-09-01",
			"quotaId":             "PayAsYouGo_2014-09-01",
			"spendingLimit":       "Off",
		},
	}
}

func (e *Emulator) tenantView() map[string]any {
	const domain = "aciworker-emulator.onmicrosoft.com"
	return map[string]any{
		"id":             "/tenants/" + e.cfg.TenantID,
		"tenantId":       e.cfg.TenantID,
		"tenantCategory": "Home",
		"country":        "United States",
		"countryCode":    "US",
		"displayName":    "aciworker emulator",
		"domains":        []string{domain},
		"defaultDomain":  domain,
		"tenantType":     "AAD",
	}
}

func (e *Emulator) locationsView() []any {
	out := make([]any, 0, len(locationsDisplay))
	for _, l := range locationsDisplay {
		name := normLocation(l)
		out = append(out, map[string]any{
			"id":                  "/subscriptions/" + e.cfg.SubscriptionID + "/locations/" + name,
			"name":                name,
			"type":                "Region",
			"displayName":         l,
			"regionalDisplayName": l,
			"metadata":            map[string]any{"regionType": "Physical", "regionCategory": "Recommended"},
		})
	}
	return out
}

// providerType is one resource type a provider lists.
type providerType struct {
	name         string
	regional     bool // offered in the ACI regions, else global (no locations)
	versions     []string
	capabilities string
}

// provider is a resource provider the emulator serves, with the resource
// types it actually answers.
type provider struct {
	namespace, policy string
	types             []providerType
}

var providers = []provider{
	{namespace: "Microsoft.ContainerInstance", policy: "RegistrationRequired", types: []providerType{
		{name: "containerGroups", regional: true, versions: apiVersionsACI, capabilities: "SupportsTags, SupportsLocation"},
		{name: "locations", versions: apiVersionsACI, capabilities: "None"},
		{name: "locations/operations", regional: true, versions: apiVersionsACI, capabilities: "None"},
		{name: "locations/usages", regional: true, versions: apiVersionsACI, capabilities: "None"},
	}},
	{namespace: "Microsoft.Resources", policy: "RegistrationFree", types: []providerType{
		{name: "tenants", versions: apiVersionsSubscriptions, capabilities: "None"},
		{name: "subscriptions", versions: apiVersionsSubscriptions, capabilities: "None"},
		{name: "subscriptions/locations", versions: apiVersionsSubscriptions, capabilities: "None"},
		{name: "providers", versions: apiVersionsResources, capabilities: "None"},
		{name: "subscriptions/providers", versions: apiVersionsResources, capabilities: "None"},
		{name: "resourceGroups", regional: true, versions: apiVersionsResources, capabilities: "SupportsTags, SupportsLocation"},
		{name: "subscriptions/resourceGroups", regional: true, versions: apiVersionsResources, capabilities: "SupportsTags, SupportsLocation"},
		{name: "subscriptions/operationresults", versions: apiVersionsResources, capabilities: "None"},
		{name: "deployments", versions: apiVersionsResources, capabilities: "SupportsTags"},
		{name: "deployments/operations", versions: apiVersionsResources, capabilities: "None"},
	}},
}

func findProvider(namespace string) *provider {
	for i := range providers {
		if eq(providers[i].namespace, namespace) {
			return &providers[i]
		}
	}
	return nil
}

// view is the provider as ARM returns it; at tenant scope there is no id
// and no registration state, as in Azure.
func (p *provider) view(sub string) map[string]any {
	types := make([]any, 0, len(p.types))
	for _, t := range p.types {
		locs := []string{}
		if t.regional {
			locs = locationsDisplay
		}
		types = append(types, map[string]any{
			"resourceType": t.name,
			"locations":    locs,
			"apiVersions":  t.versions,
			"capabilities": t.capabilities,
		})
	}
	v := map[string]any{"namespace": p.namespace, "resourceTypes": types}
	if sub != "" {
		v["id"] = "/subscriptions/" + sub + "/providers/" + p.namespace
		v["registrationState"] = "Registered"
		v["registrationPolicy"] = p.policy
	}
	return v
}

// serveProviders answers the provider list and get (at subscription and
// tenant scope) and register, which is immediate: both providers are
// always registered here.
func (e *Emulator) serveProviders(q *armRequest) {
	r, rt := q.r, q.rt
	wantMethod := http.MethodGet
	if rt.action == "register" {
		wantMethod = http.MethodPost
	}
	if r.Method != wantMethod && !(wantMethod == http.MethodGet && r.Method == http.MethodHead) {
		q.fail(methodNotAllowed(r))
		return
	}
	if rt.name == "" {
		list := make([]any, 0, len(providers))
		for i := range providers {
			list = append(list, providers[i].view(rt.sub))
		}
		q.json(http.StatusOK, map[string]any{"value": list})
		return
	}
	p := findProvider(rt.name)
	if p == nil {
		q.fail(newErr(http.StatusNotFound, "InvalidResourceNamespace", "The resource namespace '%s' is invalid.", strings.TrimSpace(rt.name)))
		return
	}
	q.json(http.StatusOK, p.view(rt.sub))
}
