package emulator_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerinstance/armcontainerinstance/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armdeployments"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armsubscriptions/v2"

	"github.com/aciworker/aciworker/emulator"
	"github.com/aciworker/aciworker/emulator/emutest"
)

// Every ARM answer the emulator gives in this package's tests is checked
// against Microsoft's API description: the Azure SDK for Go's models (it is
// generated from the REST specs) as the schema, with unknown fields and
// enum values outside the SDK's Possible…Values() rejected, plus the spec's
// facts the SDK does not enforce (the table below): the success status
// codes of each operation, and the required and read-only properties that
// must be present.

// opSpec is what the REST spec says of one operation's answers.
type opSpec struct {
	statuses []int      // success statuses
	model    func() any // the SDK model of a success body; nil: no body to check
	present  []string   // paths that must be present in a success body ("a.b", "list[].c")
}

var (
	resourceRO   = []string{"id", "name", "type"}
	groupFacts   = append(slices.Clone(resourceRO), "location", "properties.provisioningState", "properties.osType", "properties.containers[].name", "properties.containers[].properties.image", "properties.containers[].properties.resources.requests.cpu", "properties.containers[].properties.resources.requests.memoryInGB")
	deployFacts  = append(slices.Clone(resourceRO), "properties.provisioningState", "properties.correlationId", "properties.timestamp", "properties.mode")
	rgFacts      = append(slices.Clone(resourceRO), "location", "properties.provisioningState")
	subFacts     = []string{"id", "subscriptionId", "displayName", "tenantId", "state"}
	providerFact = []string{"namespace", "resourceTypes[].resourceType"}
)

func prefixed(prefix string, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = prefix + p
	}
	return out
}

var opSpecs = map[string]opSpec{
	// Container Instance 2023-05-01.
	"containerGroups.put":                {[]int{200, 201}, func() any { return &armcontainerinstance.ContainerGroup{} }, groupFacts},
	"containerGroups.get":                {[]int{200}, func() any { return &armcontainerinstance.ContainerGroup{} }, append(slices.Clone(groupFacts), "properties.instanceView.state", "properties.containers[].properties.instanceView")},
	"containerGroups.patch":              {[]int{200}, func() any { return &armcontainerinstance.ContainerGroup{} }, groupFacts},
	"containerGroups.delete":             {[]int{200, 202, 204}, func() any { return &armcontainerinstance.ContainerGroup{} }, nil},
	"containerGroups.list":               {[]int{200}, func() any { return &armcontainerinstance.ContainerGroupListResult{} }, prefixed("value[].", groupFacts)},
	"containerGroups.listBySubscription": {[]int{200}, func() any { return &armcontainerinstance.ContainerGroupListResult{} }, prefixed("value[].", groupFacts)},
	"containerGroups.stop":               {[]int{204}, nil, nil},
	"containerGroups.start":              {[]int{202, 204}, nil, nil},
	"containerGroups.restart":            {[]int{204}, nil, nil},
	"containers.logs":                    {[]int{200}, func() any { return &armcontainerinstance.Logs{} }, []string{"content"}},
	"usages.list":                        {[]int{200}, func() any { return &armcontainerinstance.UsageListResult{} }, []string{"value[].unit", "value[].currentValue", "value[].limit", "value[].name.value"}},
	// Resources: deployments and resource groups.
	"deployments.put":            {[]int{200, 201}, func() any { return &armdeployments.DeploymentExtended{} }, deployFacts},
	"deployments.get":            {[]int{200}, func() any { return &armdeployments.DeploymentExtended{} }, deployFacts},
	"deployments.delete":         {[]int{202, 204}, nil, nil},
	"deployments.cancel":         {[]int{204}, nil, nil},
	"deployments.exportTemplate": {[]int{200}, func() any { return &armdeployments.DeploymentExportResult{} }, []string{"template"}},
	"deployments.list":           {[]int{200}, func() any { return &armdeployments.DeploymentListResult{} }, prefixed("value[].", deployFacts)},
	"resourceGroups.put":         {[]int{200, 201}, func() any { return &armresources.ResourceGroup{} }, rgFacts},
	"resourceGroups.get":         {[]int{200}, func() any { return &armresources.ResourceGroup{} }, rgFacts},
	"resourceGroups.delete":      {[]int{200, 202}, nil, nil},
	"resourceGroups.list":        {[]int{200}, func() any { return &armresources.ResourceGroupListResult{} }, prefixed("value[].", rgFacts)},
	// Subscriptions, tenants, providers.
	"subscriptions.list":          {[]int{200}, func() any { return &armsubscriptions.SubscriptionListResult{} }, prefixed("value[].", subFacts)},
	"subscriptions.get":           {[]int{200}, func() any { return &armsubscriptions.Subscription{} }, subFacts},
	"subscriptions.listLocations": {[]int{200}, func() any { return &armsubscriptions.LocationListResult{} }, []string{"value[].id", "value[].name", "value[].displayName"}},
	"tenants.list":                {[]int{200}, func() any { return &armsubscriptions.TenantListResult{} }, []string{"value[].id", "value[].tenantId"}},
	"providers.get":               {[]int{200}, func() any { return &armresources.Provider{} }, append(slices.Clone(providerFact), "id", "registrationState")},
	"providers.register":          {[]int{200}, func() any { return &armresources.Provider{} }, append(slices.Clone(providerFact), "id", "registrationState")},
	"providers.list":              {[]int{200}, func() any { return &armresources.ProviderListResult{} }, prefixed("value[].", providerFact)},
	"providers.getAtTenantScope":  {[]int{200}, func() any { return &armresources.Provider{} }, providerFact},
	"providers.listAtTenantScope": {[]int{200}, func() any { return &armresources.ProviderListResult{} }, prefixed("value[].", providerFact)},
	// Long-running operation polls: Azure-AsyncOperation status (200 with a
	// body) and ARM's operation results (202 while running, 204 when done).
	"operations.get": {[]int{200, 202, 204}, func() any { return &asyncStatus{} }, []string{"status"}},
}

// asyncStatus is ARM's Azure-AsyncOperation status body (the resource
// provider contract; the SDK reads it inside azcore, with no exported
// model).
type asyncStatus struct {
	ID              string                        `json:"id,omitempty"`
	Name            string                        `json:"name,omitempty"`
	Status          string                        `json:"status"`
	StartTime       string                        `json:"startTime,omitempty"`
	EndTime         string                        `json:"endTime,omitempty"`
	PercentComplete *float64                      `json:"percentComplete,omitempty"`
	Properties      any                           `json:"properties,omitempty"`
	Error           *armdeployments.ErrorResponse `json:"error,omitempty"`
}

// armError is ARM's error answer; the SDK's ErrorResponse is its "error".
type armError struct {
	Error *armdeployments.ErrorResponse `json:"error"`
}

var (
	recordedMu sync.Mutex
	recorded   []emulator.Response
)

func TestMain(m *testing.M) {
	emutest.RecordResponses(func(r emulator.Response) {
		recordedMu.Lock()
		recorded = append(recorded, r)
		recordedMu.Unlock()
	})
	code := m.Run()
	if code == 0 {
		recordedMu.Lock()
		rs := recorded
		recordedMu.Unlock()
		// Every operation must have been seen when the whole package ran,
		// so that a broken hook cannot pass for a clean bill.
		full := flag.Lookup("test.run").Value.String() == ""
		if problems := checkResponses(rs, full); len(problems) > 0 {
			fmt.Fprintf(os.Stderr, "the emulator's answers disagree with Azure's API description (%d responses checked):\n  %s\n", len(rs), strings.Join(problems, "\n  "))
			code = 1
		} else if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "spec check: %d answers recorded; those of the %d specified operations all conform\n", len(rs), len(opSpecs))
		}
	}
	os.Exit(code)
}

// checkResponses returns one line per distinct problem.
func checkResponses(rs []emulator.Response, wantAll bool) []string {
	seen := map[string]bool{}
	problems := map[string]bool{}
	for _, r := range rs {
		if strings.HasPrefix(r.Path, "/_emulator") {
			continue
		}
		spec, known := opSpecs[r.Op]
		if !known {
			continue // Entra, metadata and unknown routes
		}
		seen[r.Op] = true
		for _, p := range checkResponse(r, spec) {
			problems[r.Op+" "+r.Method+" "+fmt.Sprint(r.Status)+": "+p] = true
		}
	}
	var out []string
	for p := range problems {
		out = append(out, p)
	}
	if wantAll {
		for op := range opSpecs {
			if !seen[op] {
				out = append(out, op+": never answered in this package's tests")
			}
		}
	}
	sort.Strings(out)
	return out
}

func checkResponse(r emulator.Response, spec opSpec) []string {
	if r.Method == http.MethodHead {
		if r.Status != http.StatusNoContent && r.Status != http.StatusNotFound && r.Status != http.StatusOK {
			return []string{"HEAD status not 204/404"}
		}
		return nil
	}
	if r.Status >= 400 {
		return conforms(r.Body, &armError{}, []string{"error.code", "error.message"})
	}
	if !slices.Contains(spec.statuses, r.Status) {
		return []string{fmt.Sprintf("status %d is not one the spec lists (%v)", r.Status, spec.statuses)}
	}
	if spec.model == nil || len(bytes.TrimSpace(r.Body)) == 0 {
		if spec.model != nil && len(spec.present) > 0 && r.Status != http.StatusAccepted && r.Status != http.StatusNoContent {
			return []string{"empty body"}
		}
		return nil
	}
	return conforms(r.Body, spec.model(), spec.present)
}

// conforms decodes body into model, the SDK's type for it, and reports
// what the SDK would drop (unknown fields: the round trip through the model
// loses them), values of the wrong type, enum values the SDK does not list,
// and required paths that are missing.
func conforms(body []byte, model any, present []string) []string {
	var out []string
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	if err := json.Unmarshal(body, model); err != nil {
		return []string{"does not decode into " + reflect.TypeOf(model).Elem().String() + ": " + err.Error()}
	}
	again, err := json.Marshal(model)
	if err != nil {
		return []string{"re-encode: " + err.Error()}
	}
	var back any
	dec = json.NewDecoder(bytes.NewReader(again))
	dec.UseNumber()
	if err := dec.Decode(&back); err != nil {
		return []string{"re-decode: " + err.Error()}
	}
	out = append(out, unknownFields("", doc, back)...)
	out = append(out, badEnums("", reflect.ValueOf(model))...)
	for _, p := range present {
		out = append(out, missing(doc, p)...)
	}
	return out
}

// unknownFields lists the members of got that the round trip lost.
func unknownFields(at string, got, back any) []string {
	switch g := got.(type) {
	case map[string]any:
		b, _ := back.(map[string]any)
		var out []string
		for k, v := range g {
			if v == nil {
				continue
			}
			bv, ok := b[k]
			if !ok {
				out = append(out, "unknown field "+at+"."+k)
				continue
			}
			out = append(out, unknownFields(at+"."+k, v, bv)...)
		}
		return out
	case []any:
		b, _ := back.([]any)
		var out []string
		for i, v := range g {
			if i < len(b) {
				out = append(out, unknownFields(at+"[]", v, b[i])...)
			}
		}
		return out
	}
	return nil
}

// missing reports a required path absent from doc; "[]" means every
// element of an array.
func missing(doc any, path string) []string {
	if absent(doc, path) {
		return []string{"missing " + path}
	}
	return nil
}

func absent(doc any, path string) bool {
	head, rest, _ := strings.Cut(path, ".")
	each := strings.HasSuffix(head, "[]")
	head = strings.TrimSuffix(head, "[]")
	m, ok := doc.(map[string]any)
	if !ok {
		return true
	}
	v, ok := m[head]
	if !ok || v == nil {
		return true
	}
	if !each {
		return rest != "" && absent(v, rest)
	}
	list, ok := v.([]any)
	if !ok {
		return true
	}
	for _, el := range list {
		if rest != "" && absent(el, rest) {
			return true
		}
	}
	return false
}

// enumValues are the SDK's Possible…Values() for the models checked.
var enumValues = func() map[reflect.Type]map[string]bool {
	m := map[reflect.Type]map[string]bool{}
	add := func(t reflect.Type, vals []string) {
		set := map[string]bool{}
		for _, v := range vals {
			set[v] = true
		}
		m[t] = set
	}
	for _, e := range []struct {
		t    reflect.Type
		vals []string
	}{
		enum(armcontainerinstance.PossibleContainerGroupIPAddressTypeValues()),
		enum(armcontainerinstance.PossibleContainerGroupNetworkProtocolValues()),
		enum(armcontainerinstance.PossibleContainerGroupPriorityValues()),
		enum(armcontainerinstance.PossibleContainerGroupRestartPolicyValues()),
		enum(armcontainerinstance.PossibleContainerGroupSKUValues()),
		enum(armcontainerinstance.PossibleContainerNetworkProtocolValues()),
		enum(armcontainerinstance.PossibleDNSNameLabelReusePolicyValues()),
		enum(armcontainerinstance.PossibleGpuSKUValues()),
		enum(armcontainerinstance.PossibleLogAnalyticsLogTypeValues()),
		enum(armcontainerinstance.PossibleOperatingSystemTypesValues()),
		enum(armcontainerinstance.PossibleResourceIdentityTypeValues()),
		enum(armcontainerinstance.PossibleSchemeValues()),
		enum(armdeployments.PossibleDeploymentIdentityTypeValues()),
		enum(armdeployments.PossibleDeploymentModeValues()),
		enum(armdeployments.PossibleExpressionEvaluationOptionsScopeTypeValues()),
		enum(armdeployments.PossibleExtensionConfigPropertyTypeValues()),
		enum(armdeployments.PossibleLevelValues()),
		enum(armdeployments.PossibleOnErrorDeploymentTypeValues()),
		enum(armdeployments.PossibleProviderAuthorizationConsentStateValues()),
		enum(armdeployments.PossibleProvisioningStateValues()),
		enum(armdeployments.PossibleValidationLevelValues()),
		enum(armresources.PossibleExtendedLocationTypeValues()),
		enum(armresources.PossibleProviderAuthorizationConsentStateValues()),
		enum(armresources.PossibleResourceIdentityTypeValues()),
		enum(armsubscriptions.PossibleLocationTypeValues()),
		enum(armsubscriptions.PossibleRegionCategoryValues()),
		enum(armsubscriptions.PossibleRegionTypeValues()),
		enum(armsubscriptions.PossibleSpendingLimitValues()),
		enum(armsubscriptions.PossibleSubscriptionStateValues()),
		enum(armsubscriptions.PossibleTenantCategoryValues()),
	} {
		add(e.t, e.vals)
	}
	return m
}()

func enum[T ~string](vals []T) struct {
	t    reflect.Type
	vals []string
} {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	return struct {
		t    reflect.Type
		vals []string
	}{reflect.TypeFor[T](), out}
}

// badEnums walks a decoded model and reports enum values the SDK does not
// list.
func badEnums(at string, v reflect.Value) []string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return badEnums(at, v.Elem())
	case reflect.Struct:
		var out []string
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out = append(out, badEnums(at+"."+v.Type().Field(i).Name, v.Field(i))...)
			}
		}
		return out
	case reflect.Slice:
		var out []string
		for i := range v.Len() {
			out = append(out, badEnums(at+"[]", v.Index(i))...)
		}
		return out
	case reflect.Map:
		var out []string
		for _, k := range v.MapKeys() {
			out = append(out, badEnums(at+"{}", v.MapIndex(k))...)
		}
		return out
	case reflect.String:
		if set, ok := enumValues[v.Type()]; ok && !set[v.String()] {
			return []string{fmt.Sprintf("%s = %q is not one of %s's values", at, v.String(), v.Type())}
		}
	}
	return nil
}

// TestSpecCheckerCatches keeps the checker honest: each flaw it must
// report, planted in an otherwise valid answer.
func TestSpecCheckerCatches(t *testing.T) {
	t.Parallel()
	valid := `{"id":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/g","name":"g","type":"Microsoft.ContainerInstance/containerGroups","location":"eastus",
"properties":{"provisioningState":"Succeeded","osType":"Linux","restartPolicy":"Never","containers":[{"name":"main","properties":{"image":"alpine:3","resources":{"requests":{"cpu":1,"memoryInGB":1}}}}]}}`
	spec := opSpecs["containerGroups.put"]
	if p := checkResponse(emulator.Response{Op: "containerGroups.put", Method: "PUT", Status: 201, Body: []byte(valid)}, spec); len(p) != 0 {
		t.Fatalf("a valid answer was faulted: %v", p)
	}
	for _, tc := range []struct{ name, from, to, want string }{
		{"unknown field", `"osType":"Linux"`, `"osType":"Linux","bogus":1`, "unknown field .properties.bogus"},
		{"enum value", `"osType":"Linux"`, `"osType":"Linuxish"`, "is not one of"},
		{"wrong type", `"cpu":1`, `"cpu":"one"`, "does not decode"},
		{"missing read-only", `"provisioningState":"Succeeded",`, ``, "missing properties.provisioningState"},
		{"missing required in a list", `"image":"alpine:3",`, ``, "missing properties.containers[].properties.image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Replace(valid, tc.from, tc.to, 1)
			p := checkResponse(emulator.Response{Op: "containerGroups.put", Method: "PUT", Status: 201, Body: []byte(body)}, spec)
			if !strings.Contains(strings.Join(p, "\n"), tc.want) {
				t.Fatalf("problems %v, want one with %q", p, tc.want)
			}
		})
	}
	if p := checkResponse(emulator.Response{Op: "containerGroups.put", Method: "PUT", Status: 202, Body: []byte(valid)}, spec); len(p) == 0 {
		t.Fatal("a status the spec does not list passed")
	}
	if p := checkResponse(emulator.Response{Op: "containerGroups.get", Method: "GET", Status: 404, Body: []byte(`{"error":{"code":"X","message":"m","extra":1}}`)}, spec); len(p) == 0 {
		t.Fatal("an error answer with an unknown field passed")
	}
}

// TestSpecCoverage answers the operations the other tests do not reach, so
// that the spec check sees every one.
func TestSpecCoverage(t *testing.T) {
	t.Parallel()
	e := emutest.Start(t)
	s := newSDK(t, e)
	ctx := ctxT(t)
	if _, err := createGroup(ctx, s, "covered", validGroup("sleep", "30")); err != nil {
		t.Fatal(err)
	}
	g, err := s.groups.Update(ctx, s.set.ResourceGroup, "covered", armcontainerinstance.Resource{Tags: map[string]*string{"k": to.Ptr("v")}}, nil)
	if err != nil || str(g.Tags["k"]) != "v" {
		t.Fatalf("patch: %v %s", err, mustJSON(g.Tags))
	}
	loc, err := armcontainerinstance.NewLocationClient(s.set.SubscriptionID, s.cred, &arm.ClientOptions{ClientOptions: clientOptions(e)})
	if err != nil {
		t.Fatal(err)
	}
	usages := all(t, loc.NewListUsagePager(s.set.Location, nil), func(p armcontainerinstance.LocationClientListUsageResponse) []*armcontainerinstance.Usage {
		return p.Value
	})
	if len(usages) == 0 {
		t.Fatal("no usages")
	}
	// A deployment still provisioning its group can be cancelled.
	slow := newSDK(t, emutest.Start(t, func(c *emulator.Config) { c.ProvisionDelay = time.Hour }))
	if _, err := slow.deploy.BeginCreateOrUpdate(ctx, slow.set.ResourceGroup, "prefect-cancel", armdeployments.Deployment{Properties: &armdeployments.DeploymentProperties{
		Mode: to.Ptr(armdeployments.DeploymentModeIncremental), Template: sampleTemplate(t, []string{"true"}),
		Parameters: map[string]*armdeployments.DeploymentParameter{"container_group_name": {Value: "cancelled"}}}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := slow.deploy.Cancel(ctx, slow.set.ResourceGroup, "prefect-cancel", nil); err != nil {
		t.Fatalf("cancel: %v", err)
	}
}
