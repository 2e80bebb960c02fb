package armtemplate

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

type builtin struct {
	min, max int // max < 0: variadic
	fn       func(c *evalCtx, name string, args []any) (any, error)
	// lazy receives unevaluated arguments (if() evaluates one branch only).
	lazy func(c *evalCtx, name string, args []Expr) (any, error)
	// free marks functions returning existing values rather than building
	// new ones; they are not charged against the evaluation budget.
	free bool
	// unsupported names a real ARM function the emulator cannot evaluate,
	// with the reason, so users get a precise message instead of "not valid".
	unsupported string
}

// maxBuiltLength caps the size of a single string or array a function may
// build (padLeft, range), in line with ARM's own argument limits.
const maxBuiltLength = 16384

var builtins map[string]*builtin

func init() {
	builtins = map[string]*builtin{
		// Deployment and scope.
		"parameters":                {min: 1, max: 1, fn: fnParameters, free: true},
		"variables":                 {min: 1, max: 1, fn: fnVariables, free: true},
		"resourcegroup":             {min: 0, max: 0, fn: fnResourceGroup},
		"subscription":              {min: 0, max: 0, fn: fnSubscription},
		"tenant":                    {min: 0, max: 0, fn: fnTenant},
		"deployment":                {min: 0, max: 0, fn: fnDeployment},
		"environment":               {min: 0, max: 0, fn: fnEnvironment},
		"resourceid":                {min: 2, max: -1, fn: fnResourceID},
		"subscriptionresourceid":    {min: 2, max: -1, fn: fnSubscriptionResourceID},
		"tenantresourceid":          {min: 2, max: -1, fn: fnTenantResourceID},
		"extensionresourceid":       {min: 3, max: -1, fn: fnExtensionResourceID},
		"reference":                 {unsupported: "it reads deployed resources, which templates evaluated by the emulator cannot do"},
		"list":                      {unsupported: "it reads deployed resources"},
		"listkeys":                  {unsupported: "it reads deployed resources"},
		"listsecrets":               {unsupported: "it reads deployed resources"},
		"listaccountsas":            {unsupported: "it reads deployed resources"},
		"pickzones":                 {unsupported: "zone data is not emulated"},
		"providers":                 {unsupported: "provider metadata is not emulated"},
		"newguid":                   {unsupported: "it is random; pass a value as a parameter instead"},
		"utcnow":                    {unsupported: "it depends on the clock; pass a value as a parameter instead"},
		"managementgroup":           {unsupported: "only resource-group deployments are emulated"},
		"managementgroupresourceid": {unsupported: "only resource-group deployments are emulated"},
		"copyindex":                 {unsupported: "'copy' loops are not supported"},

		// Strings.
		"uniquestring":         {min: 1, max: -1, fn: fnUniqueString},
		"guid":                 {min: 1, max: -1, fn: fnGuid},
		"concat":               {min: 1, max: -1, fn: fnConcat},
		"format":               {min: 1, max: -1, fn: fnFormat},
		"tolower":              {min: 1, max: 1, fn: stringFn(strings.ToLower)},
		"toupper":              {min: 1, max: 1, fn: stringFn(strings.ToUpper)},
		"trim":                 {min: 1, max: 1, fn: stringFn(func(s string) string { return strings.TrimSpace(s) })},
		"string":               {min: 1, max: 1, fn: func(_ *evalCtx, _ string, a []any) (any, error) { return toText(a[0]), nil }},
		"replace":              {min: 3, max: 3, fn: fnReplace},
		"split":                {min: 2, max: 2, fn: fnSplit},
		"join":                 {min: 2, max: 2, fn: fnJoin},
		"substring":            {min: 2, max: 3, fn: fnSubstring},
		"indexof":              {min: 2, max: 2, fn: fnIndexOf},
		"lastindexof":          {min: 2, max: 2, fn: fnLastIndexOf},
		"startswith":           {min: 2, max: 2, fn: fnStartsWith},
		"endswith":             {min: 2, max: 2, fn: fnEndsWith},
		"padleft":              {min: 2, max: 3, fn: fnPadLeft},
		"base64":               {min: 1, max: 1, fn: stringFn(func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) })},
		"base64tostring":       {min: 1, max: 1, fn: fnBase64ToString},
		"base64tojson":         {min: 1, max: 1, fn: fnBase64ToJSON},
		"uricomponent":         {min: 1, max: 1, fn: stringFn(uriEscape)},
		"uricomponenttostring": {min: 1, max: 1, fn: fnURIUnescape},
		"uri":                  {min: 2, max: 2, fn: fnURI},
		"datauri":              {min: 1, max: 1, fn: fnDataURI},

		// Conversions and literals.
		"int":          {min: 1, max: 1, fn: fnInt},
		"bool":         {min: 1, max: 1, fn: fnBool},
		"json":         {min: 1, max: 1, fn: fnJSON},
		"true":         {min: 0, max: 0, fn: func(*evalCtx, string, []any) (any, error) { return true, nil }},
		"false":        {min: 0, max: 0, fn: func(*evalCtx, string, []any) (any, error) { return false, nil }},
		"null":         {min: 0, max: 0, fn: func(*evalCtx, string, []any) (any, error) { return nil, nil }},
		"array":        {min: 1, max: 1, fn: fnArray},
		"createarray":  {min: 0, max: -1, fn: func(_ *evalCtx, _ string, a []any) (any, error) { return append([]any{}, a...), nil }},
		"createobject": {min: 0, max: -1, fn: fnCreateObject},

		// Logic and comparison.
		"if":              {min: 3, max: 3, lazy: fnIf, free: true},
		"equals":          {min: 2, max: 2, fn: func(_ *evalCtx, _ string, a []any) (any, error) { return deepEqual(a[0], a[1]), nil }},
		"not":             {min: 1, max: 1, fn: fnNot},
		"and":             {min: 2, max: -1, fn: fnAndOr(true)},
		"or":              {min: 2, max: -1, fn: fnAndOr(false)},
		"less":            {min: 2, max: 2, fn: compareFn(func(c int) bool { return c < 0 })},
		"lessorequals":    {min: 2, max: 2, fn: compareFn(func(c int) bool { return c <= 0 })},
		"greater":         {min: 2, max: 2, fn: compareFn(func(c int) bool { return c > 0 })},
		"greaterorequals": {min: 2, max: 2, fn: compareFn(func(c int) bool { return c >= 0 })},
		"coalesce":        {min: 1, max: -1, fn: fnCoalesce, free: true},

		// Collections.
		"empty":           {min: 1, max: 1, fn: fnEmpty},
		"length":          {min: 1, max: 1, fn: fnLength},
		"contains":        {min: 2, max: 2, fn: fnContains},
		"union":           {min: 1, max: -1, fn: fnUnion},
		"intersection":    {min: 1, max: -1, fn: fnIntersection},
		"take":            {min: 2, max: 2, fn: fnTakeSkip(true)},
		"skip":            {min: 2, max: 2, fn: fnTakeSkip(false)},
		"first":           {min: 1, max: 1, fn: fnFirstLast(true), free: true},
		"last":            {min: 1, max: 1, fn: fnFirstLast(false), free: true},
		"range":           {min: 2, max: 2, fn: fnRange},
		"items":           {min: 1, max: 1, fn: fnItems},
		"objectkeys":      {min: 1, max: 1, fn: fnObjectKeys},
		"tryget":          {min: 2, max: -1, fn: fnTryGet, free: true},
		"flatten":         {min: 1, max: 1, fn: fnFlatten},
		"shallowmerge":    {min: 1, max: 1, fn: fnShallowMerge},
		"filter":          {unsupported: "lambda functions are not supported"},
		"map":             {unsupported: "lambda functions are not supported"},
		"mapvalues":       {unsupported: "lambda functions are not supported"},
		"reduce":          {unsupported: "lambda functions are not supported"},
		"sort":            {unsupported: "lambda functions are not supported"},
		"toobject":        {unsupported: "lambda functions are not supported"},
		"groupby":         {unsupported: "lambda functions are not supported"},
		"lambda":          {unsupported: "lambda functions are not supported"},
		"lambdavariables": {unsupported: "lambda functions are not supported"},

		// Numbers.
		"add": {min: 2, max: 2, fn: arith(func(a, b int64) (int64, string) { return checkedAdd(a, b) })},
		"sub": {min: 2, max: 2, fn: arith(func(a, b int64) (int64, string) { return checkedAdd(a, -b) })},
		"mul": {min: 2, max: 2, fn: arith(checkedMul)},
		"div": {min: 2, max: 2, fn: arith(func(a, b int64) (int64, string) {
			if b == 0 {
				return 0, "the divisor must not be zero"
			}
			if a == math.MinInt64 && b == -1 {
				return 0, "the result overflows a 64-bit integer"
			}
			return a / b, ""
		})},
		"mod": {min: 2, max: 2, fn: arith(func(a, b int64) (int64, string) {
			if b == 0 {
				return 0, "the divisor must not be zero"
			}
			if b == -1 {
				return 0, ""
			}
			return a % b, ""
		})},
		"min": {min: 1, max: -1, fn: minMax(true)},
		"max": {min: 1, max: -1, fn: minMax(false)},
	}
}

func fnParameters(c *evalCtx, name string, a []any) (any, error) {
	n, err := stringArg(name, a, 0)
	if err != nil {
		return nil, err
	}
	if c.where == inUserFunction {
		if v, ok := c.fnArgs[strings.ToLower(n)]; ok {
			return v, nil
		}
		return nil, exprErrorf("The user-defined function parameter '%s' is not found; a user-defined function can only read its own parameters.", n)
	}
	return c.ev.param(n)
}

func fnVariables(c *evalCtx, name string, a []any) (any, error) {
	n, err := stringArg(name, a, 0)
	if err != nil {
		return nil, err
	}
	if c.where == inParameterDefault || c.where == inUserFunction {
		return nil, exprErrorf("The template function '%s' is not expected at this location. Please see https://aka.ms/arm-functions for usage details.", name)
	}
	return c.ev.variable(n)
}

func (s Scope) resourceGroupID() string {
	return "/subscriptions/" + s.SubscriptionID + "/resourceGroups/" + s.ResourceGroup
}

func fnResourceGroup(c *evalCtx, _ string, _ []any) (any, error) {
	s := c.ev.scope
	tags := map[string]any{}
	for k, v := range s.ResourceGroupTags {
		tags[k] = v
	}
	rg := map[string]any{
		"id":         s.resourceGroupID(),
		"name":       s.ResourceGroup,
		"type":       "Microsoft.Resources/resourceGroups",
		"location":   s.Location,
		"tags":       tags,
		"properties": map[string]any{"provisioningState": "Succeeded"},
	}
	if s.ResourceGroupManagedBy != "" {
		rg["managedBy"] = s.ResourceGroupManagedBy
	}
	return rg, nil
}

func fnSubscription(c *evalCtx, _ string, _ []any) (any, error) {
	s := c.ev.scope
	name := s.SubscriptionDisplayName
	if name == "" {
		name = "Emulated subscription"
	}
	return map[string]any{
		"id":             "/subscriptions/" + s.SubscriptionID,
		"subscriptionId": s.SubscriptionID,
		"tenantId":       s.TenantID,
		"displayName":    name,
	}, nil
}

func fnTenant(c *evalCtx, _ string, _ []any) (any, error) {
	return map[string]any{
		"id":          "/tenants/" + c.ev.scope.TenantID,
		"tenantId":    c.ev.scope.TenantID,
		"countryCode": "US",
		"displayName": "Emulated tenant",
	}, nil
}

func fnDeployment(c *evalCtx, _ string, _ []any) (any, error) {
	tmpl := map[string]any{}
	for _, k := range []string{"$schema", "contentVersion", "metadata"} {
		if v, ok := lookupKey(c.ev.template, k); ok {
			tmpl[k] = v
		}
	}
	return map[string]any{
		"name": c.ev.scope.DeploymentName,
		"properties": map[string]any{
			"template":          tmpl,
			"templateHash":      templateHash(c.ev.template),
			"parameters":        c.ev.supplied,
			"mode":              "Incremental",
			"provisioningState": "Accepted",
		},
	}, nil
}

// templateHash mimics ARM's numeric templateHash with a stable digest of
// the template's canonical JSON.
func templateHash(t map[string]any) string {
	h := murmur64([]byte(compactJSON(t)))
	return strconv.FormatUint(h, 10)
}

// TemplateHash returns the templateHash ARM reports for a template (a
// decimal digest; stable for equal templates).
func TemplateHash(template map[string]any) string {
	t, err := normalize(template)
	if err != nil {
		return "0"
	}
	m, _ := t.(map[string]any)
	return templateHash(m)
}

func fnEnvironment(*evalCtx, string, []any) (any, error) {
	return map[string]any{
		"name":                    "AzureCloud",
		"gallery":                 "https://gallery.azure.com/",
		"graph":                   "https://graph.windows.net/",
		"portal":                  "https://portal.azure.com",
		"graphAudience":           "https://graph.windows.net/",
		"activeDirectoryDataLake": "https://datalake.azure.net/",
		"batch":                   "https://batch.core.windows.net/",
		"media":                   "https://rest.media.azure.net",
		"sqlManagement":           "https://management.core.windows.net:8443/",
		"vmImageAliasDoc":         "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/quickstart-templates/aliases.json",
		"resourceManager":         "https://management.azure.com/",
		"authentication": map[string]any{
			"loginEndpoint":    "https://login.microsoftonline.com/",
			"audiences":        []any{"https://management.core.windows.net/", "https://management.azure.com/"},
			"tenant":           "common",
			"identityProvider": "AAD",
		},
		"suffixes": map[string]any{
			"acrLoginServer":                      ".azurecr.io",
			"azureDatalakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
			"azureDatalakeStoreFileSystem":        "azuredatalakestore.net",
			"azureFrontDoorEndpointSuffix":        "azurefd.net",
			"keyvaultDns":                         ".vault.azure.net",
			"sqlServerHostname":                   ".database.windows.net",
			"storage":                             "core.windows.net",
		},
	}, nil
}

func stringArgs(name string, a []any) ([]string, error) {
	out := make([]string, len(a))
	for i := range a {
		s, err := stringArg(name, a, i)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// splitResourceArgs finds the resource type (the first argument holding a
// '/') and checks that the names after it supply one segment per type
// segment after the namespace.
func splitResourceArgs(name string, a []string) (before []string, typ string, names []string, err error) {
	t := -1
	for i, s := range a {
		if strings.Contains(s, "/") {
			t = i
			break
		}
	}
	if t < 0 {
		return nil, "", nil, exprErrorf("Unable to evaluate template language function '%s': function requires exactly one multi-segmented argument which must be resource type including resource provider namespace. Current function arguments '%s'. Please see https://aka.ms/arm-resource-functions/#resourceid for usage details.", name, strings.Join(a, ","))
	}
	typ, names = a[t], a[t+1:]
	segs := strings.Split(typ, "/")
	nameSegs := 0
	for _, n := range names {
		nameSegs += strings.Count(n, "/") + 1
	}
	if len(segs) < 2 || nameSegs != len(segs)-1 {
		return nil, "", nil, exprErrorf("Unable to evaluate template language function '%s': the type '%s' requires '%d' resource name argument(s). Please see https://aka.ms/arm-resource-functions/#resourceid for usage details.", name, typ, len(segs)-1)
	}
	return a[:t], typ, names, nil
}

func providerPath(typ string, names []string) string {
	segs := strings.Split(typ, "/")
	all := strings.Split(strings.Join(names, "/"), "/")
	var b strings.Builder
	b.WriteString("/providers/")
	b.WriteString(segs[0])
	for i, s := range segs[1:] {
		b.WriteString("/" + s + "/" + all[i])
	}
	return b.String()
}

// resourceIDFor is the id of a top-level resource deployed in scope.
func resourceIDFor(s Scope, typ, name string) string {
	return s.resourceGroupID() + providerPath(typ, []string{name})
}

func fnResourceID(c *evalCtx, name string, a []any) (any, error) {
	args, err := stringArgs(name, a)
	if err != nil {
		return nil, err
	}
	before, typ, names, err := splitResourceArgs(name, args)
	if err != nil {
		return nil, err
	}
	sub, rg := c.ev.scope.SubscriptionID, c.ev.scope.ResourceGroup
	switch len(before) {
	case 0:
	case 1:
		rg = before[0]
	case 2:
		sub, rg = before[0], before[1]
	default:
		return nil, exprErrorf("Unable to evaluate template language function '%s': at most a subscription id and a resource group name may precede the resource type '%s'.", name, typ)
	}
	return "/subscriptions/" + sub + "/resourceGroups/" + rg + providerPath(typ, names), nil
}

func fnSubscriptionResourceID(c *evalCtx, name string, a []any) (any, error) {
	args, err := stringArgs(name, a)
	if err != nil {
		return nil, err
	}
	before, typ, names, err := splitResourceArgs(name, args)
	if err != nil {
		return nil, err
	}
	sub := c.ev.scope.SubscriptionID
	switch len(before) {
	case 0:
	case 1:
		sub = before[0]
	default:
		return nil, exprErrorf("Unable to evaluate template language function '%s': at most a subscription id may precede the resource type '%s'.", name, typ)
	}
	return "/subscriptions/" + sub + providerPath(typ, names), nil
}

func fnTenantResourceID(_ *evalCtx, name string, a []any) (any, error) {
	args, err := stringArgs(name, a)
	if err != nil {
		return nil, err
	}
	before, typ, names, err := splitResourceArgs(name, args)
	if err != nil {
		return nil, err
	}
	if len(before) > 0 {
		return nil, exprErrorf("Unable to evaluate template language function '%s': the resource type must be the first argument.", name)
	}
	return providerPath(typ, names), nil
}

func fnExtensionResourceID(_ *evalCtx, name string, a []any) (any, error) {
	args, err := stringArgs(name, a)
	if err != nil {
		return nil, err
	}
	before, typ, names, err := splitResourceArgs(name, args[1:])
	if err != nil {
		return nil, err
	}
	if len(before) > 0 {
		return nil, exprErrorf("Unable to evaluate template language function '%s': the resource type must follow the parent resource id.", name)
	}
	return strings.TrimSuffix(args[0], "/") + providerPath(typ, names), nil
}

func fnUniqueString(_ *evalCtx, name string, a []any) (any, error) {
	args, err := stringArgs(name, a)
	if err != nil {
		return nil, err
	}
	return UniqueString(args...), nil
}

func fnGuid(_ *evalCtx, name string, a []any) (any, error) {
	args, err := stringArgs(name, a)
	if err != nil {
		return nil, err
	}
	return Guid(args...), nil
}

func stringFn(f func(string) string) func(*evalCtx, string, []any) (any, error) {
	return func(_ *evalCtx, name string, a []any) (any, error) {
		s, err := stringArg(name, a, 0)
		if err != nil {
			return nil, err
		}
		return f(s), nil
	}
}

// fnConcat joins strings (numbers and booleans are converted, as ARM
// does) or arrays; mixing arrays with anything else is an error.
func fnConcat(_ *evalCtx, name string, a []any) (any, error) {
	if _, isArr := a[0].([]any); isArr {
		var out []any
		for i, v := range a {
			arr, ok := v.([]any)
			if !ok {
				return nil, exprErrorf("The template language function '%s' expects all its parameters to be arrays when the first is an array, but the %s parameter is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, ordinal(i), kindOf(v))
			}
			out = append(out, arr...)
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	}
	var b strings.Builder
	for i, v := range a {
		switch v.(type) {
		case string, json.Number, bool:
			b.WriteString(toText(v))
		default:
			return nil, exprErrorf("The template language function '%s' expects its parameters to be all strings, integers or booleans, or all arrays, but the %s parameter is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, ordinal(i), kindOf(v))
		}
	}
	return b.String(), nil
}

func fnReplace(_ *evalCtx, name string, a []any) (any, error) {
	args, err := stringArgs(name, a)
	if err != nil {
		return nil, err
	}
	if args[1] == "" {
		return nil, exprErrorf("The template language function '%s' expects its second parameter (the string to replace) to be non-empty. Please see https://aka.ms/arm-functions for usage details.", name)
	}
	if n := strings.Count(args[0], args[1]); n > 0 && len(args[2]) > len(args[1]) {
		if grown := len(args[0]) + n*(len(args[2])-len(args[1])); grown > evalBudget {
			return nil, exprErrorf("The template language function '%s' would build a string longer than the evaluation limit.", name)
		}
	}
	return strings.ReplaceAll(args[0], args[1], args[2]), nil
}

func fnSplit(_ *evalCtx, name string, a []any) (any, error) {
	s, err := stringArg(name, a, 0)
	if err != nil {
		return nil, err
	}
	var delims []string
	switch d := a[1].(type) {
	case string:
		delims = []string{d}
	case []any:
		for _, x := range d {
			ds, ok := x.(string)
			if !ok {
				return nil, exprErrorf("The template language function '%s' expects its second parameter to be a string or an array of strings, but the array holds a value of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, kindOf(x))
			}
			delims = append(delims, ds)
		}
	default:
		return nil, argTypeError(name, 1, "String", a[1])
	}
	var parts []any
	start := 0
	for i := 0; i < len(s); {
		matched := 0
		for _, d := range delims {
			if d != "" && strings.HasPrefix(s[i:], d) {
				matched = len(d)
				break
			}
		}
		if matched > 0 {
			parts = append(parts, s[start:i])
			i += matched
			start = i
			continue
		}
		i++
	}
	return append(parts, s[start:]), nil
}

func fnJoin(_ *evalCtx, name string, a []any) (any, error) {
	arr, ok := a[0].([]any)
	if !ok {
		return nil, argTypeError(name, 0, "Array", a[0])
	}
	sep, err := stringArg(name, a, 1)
	if err != nil {
		return nil, err
	}
	parts := make([]string, len(arr))
	for i, v := range arr {
		switch v.(type) {
		case string, json.Number, bool:
			parts[i] = toText(v)
		default:
			return nil, exprErrorf("The template language function '%s' expects the array to hold strings, integers or booleans, but item %d is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, i, kindOf(v))
		}
	}
	return strings.Join(parts, sep), nil
}

// utf16Len and the index helpers work in UTF-16 code units, as .NET
// strings do, so positions agree with Azure for non-ASCII text.
func toUnits(s string) []uint16 {
	var out []uint16
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}

func fromUnits(u []uint16) string {
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		c := rune(u[i])
		if c >= 0xd800 && c < 0xdc00 && i+1 < len(u) && u[i+1] >= 0xdc00 && u[i+1] < 0xe000 {
			c = 0x10000 + (c-0xd800)<<10 + rune(u[i+1]) - 0xdc00
			i++
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fnSubstring(_ *evalCtx, name string, a []any) (any, error) {
	s, err := stringArg(name, a, 0)
	if err != nil {
		return nil, err
	}
	start, err := intArg(name, a, 1)
	if err != nil {
		return nil, err
	}
	u := toUnits(s)
	length := int64(len(u)) - start
	if len(a) == 3 {
		if length, err = intArg(name, a, 2); err != nil {
			return nil, err
		}
	}
	if start < 0 || start > int64(len(u)) || length < 0 || length > int64(len(u))-start {
		return nil, exprErrorf("The template language function '%s' has an invalid start index '%d' or length '%d' for a string of length '%d': the index and length must refer to a location within the string. Please see https://aka.ms/arm-functions for usage details.", name, start, length, len(u))
	}
	return fromUnits(u[start : start+length]), nil
}

// foldIndex finds sub in s ignoring case and returns the position in
// UTF-16 code units (-1 when absent).
func foldIndex(s, sub string, last bool) int64 {
	ls, lsub := strings.ToLower(s), strings.ToLower(sub)
	if lsub == "" {
		if last {
			return int64(max(len(toUnits(ls))-1, 0))
		}
		return 0
	}
	var i int
	if last {
		i = strings.LastIndex(ls, lsub)
	} else {
		i = strings.Index(ls, lsub)
	}
	if i < 0 {
		return -1
	}
	return int64(len(toUnits(ls[:i])))
}

func fnIndexOf(_ *evalCtx, name string, a []any) (any, error) {
	args, err := stringArgs(name, a)
	if err != nil {
		return nil, err
	}
	return intNumber(foldIndex(args[0], args[1], false)), nil
}

func fnLastIndexOf(_ *evalCtx, name string, a []any) (any, error) {
	args, err := stringArgs(name, a)
	if err != nil {
		return nil, err
	}
	return intNumber(foldIndex(args[0], args[1], true)), nil
}

// startsWith and endsWith compare case-insensitively, as documented.
func fnStartsWith(_ *evalCtx, name string, a []any) (any, error) {
	args, err := stringArgs(name, a)
	if err != nil {
		return nil, err
	}
	return strings.HasPrefix(strings.ToLower(args[0]), strings.ToLower(args[1])), nil
}

func fnEndsWith(_ *evalCtx, name string, a []any) (any, error) {
	args, err := stringArgs(name, a)
	if err != nil {
		return nil, err
	}
	return strings.HasSuffix(strings.ToLower(args[0]), strings.ToLower(args[1])), nil
}

func fnPadLeft(_ *evalCtx, name string, a []any) (any, error) {
	var s string
	switch v := a[0].(type) {
	case string:
		s = v
	case json.Number:
		if _, ok := asInt(v); !ok {
			return nil, argTypeError(name, 0, "String", v)
		}
		s = string(v)
	default:
		return nil, argTypeError(name, 0, "String", v)
	}
	total, err := intArg(name, a, 1)
	if err != nil {
		return nil, err
	}
	if total < 0 || total > maxBuiltLength {
		return nil, exprErrorf("The template language function '%s' expects its second parameter (the total length) to be between 0 and %d, not '%d'. Please see https://aka.ms/arm-functions for usage details.", name, maxBuiltLength, total)
	}
	pad := " "
	if len(a) == 3 {
		if pad, err = stringArg(name, a, 2); err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(pad) != 1 {
			return nil, exprErrorf("The template language function '%s' expects its third parameter (the padding character) to be a single character, not '%s'. Please see https://aka.ms/arm-functions for usage details.", name, pad)
		}
	}
	n := int64(len(toUnits(s)))
	if n >= total {
		return s, nil
	}
	return strings.Repeat(pad, int(total-n)) + s, nil
}

func fnBase64ToString(_ *evalCtx, name string, a []any) (any, error) {
	s, err := stringArg(name, a, 0)
	if err != nil {
		return nil, err
	}
	b, derr := base64.StdEncoding.DecodeString(s)
	if derr != nil {
		return nil, exprErrorf("The template language function '%s' expects a base64 encoded string: %v.", name, derr)
	}
	return string(b), nil
}

func fnBase64ToJSON(c *evalCtx, name string, a []any) (any, error) {
	s, err := fnBase64ToString(c, name, a)
	if err != nil {
		return nil, err
	}
	return parseJSONText(name, s.(string))
}

// uriEscape escapes like .NET's Uri.EscapeDataString (RFC 3986
// unreserved characters stay as they are).
func uriEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if isIdentStart(ch) && ch != '$' || isDigit(ch) || ch == '-' || ch == '.' || ch == '~' {
			b.WriteByte(ch)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", ch)
	}
	return b.String()
}

func fnURIUnescape(_ *evalCtx, name string, a []any) (any, error) {
	s, err := stringArg(name, a, 0)
	if err != nil {
		return nil, err
	}
	out, uerr := url.PathUnescape(s)
	if uerr != nil {
		return nil, exprErrorf("The template language function '%s' could not decode '%s': %v.", name, s, uerr)
	}
	return out, nil
}

func fnURI(_ *evalCtx, name string, a []any) (any, error) {
	args, err := stringArgs(name, a)
	if err != nil {
		return nil, err
	}
	base, perr := url.Parse(args[0])
	if perr != nil || !base.IsAbs() {
		return nil, exprErrorf("The template language function '%s' expects its first parameter to be an absolute URI, not '%s'.", name, args[0])
	}
	rel, perr := url.Parse(args[1])
	if perr != nil {
		return nil, exprErrorf("The template language function '%s' could not parse the relative URI '%s'.", name, args[1])
	}
	return base.ResolveReference(rel).String(), nil
}

func fnDataURI(_ *evalCtx, name string, a []any) (any, error) {
	s, err := stringArg(name, a, 0)
	if err != nil {
		return nil, err
	}
	return "data:text/plain;charset=utf8;base64," + base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func fnInt(_ *evalCtx, name string, a []any) (any, error) {
	switch v := a[0].(type) {
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, exprErrorf("The template language function '%s' cannot convert the string '%s' to an integer. Please see https://aka.ms/arm-functions for usage details.", name, v)
		}
		return intNumber(i), nil
	case json.Number:
		if i, ok := asInt(v); ok {
			return intNumber(i), nil
		}
		f, err := v.Float64()
		if err != nil || f > math.MaxInt64 || f < math.MinInt64 {
			return nil, exprErrorf("The template language function '%s' cannot convert '%s' to a 64-bit integer. Please see https://aka.ms/arm-functions for usage details.", name, v)
		}
		// .NET's Convert.ToInt64 rounds half to even.
		return intNumber(int64(math.RoundToEven(f))), nil
	}
	return nil, argTypeError(name, 0, "String", a[0])
}

func fnBool(_ *evalCtx, name string, a []any) (any, error) {
	switch v := a[0].(type) {
	case bool:
		return v, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, exprErrorf("The template language function '%s' cannot convert the string '%s' to a boolean; use 'true' or 'false'. Please see https://aka.ms/arm-functions for usage details.", name, v)
	case json.Number:
		if i, ok := asInt(v); ok {
			return i != 0, nil
		}
	}
	return nil, argTypeError(name, 0, "Boolean", a[0])
}

func parseJSONText(name, s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, exprErrorf("The template language function '%s' has an invalid parameter: the value is not valid JSON: %v. Please see https://aka.ms/arm-functions for usage details.", name, err)
	}
	if dec.More() {
		return nil, exprErrorf("The template language function '%s' has an invalid parameter: the value holds more than one JSON value. Please see https://aka.ms/arm-functions for usage details.", name)
	}
	return v, nil
}

func fnJSON(_ *evalCtx, name string, a []any) (any, error) {
	s, err := stringArg(name, a, 0)
	if err != nil {
		return nil, err
	}
	return parseJSONText(name, s)
}

func fnArray(_ *evalCtx, _ string, a []any) (any, error) {
	if arr, ok := a[0].([]any); ok {
		return arr, nil
	}
	return []any{a[0]}, nil
}

func fnCreateObject(_ *evalCtx, name string, a []any) (any, error) {
	if len(a)%2 != 0 {
		return nil, exprErrorf("The template language function '%s' expects an even number of parameters (key, value pairs), but %d were provided. Please see https://aka.ms/arm-functions for usage details.", name, len(a))
	}
	out := make(map[string]any, len(a)/2)
	for i := 0; i < len(a); i += 2 {
		k, err := stringArg(name, a, i)
		if err != nil {
			return nil, err
		}
		out[k] = a[i+1]
	}
	return out, nil
}

func fnIf(c *evalCtx, name string, args []Expr) (any, error) {
	cond, err := c.evalExpr(args[0])
	if err != nil {
		return nil, err
	}
	b, ok := cond.(bool)
	if !ok {
		return nil, argTypeError(name, 0, "Boolean", cond)
	}
	if b {
		return c.evalExpr(args[1])
	}
	return c.evalExpr(args[2])
}

func fnNot(_ *evalCtx, name string, a []any) (any, error) {
	b, err := boolArg(name, a, 0)
	if err != nil {
		return nil, err
	}
	return !b, nil
}

func fnAndOr(isAnd bool) func(*evalCtx, string, []any) (any, error) {
	return func(_ *evalCtx, name string, a []any) (any, error) {
		result := isAnd
		for i := range a {
			b, err := boolArg(name, a, i)
			if err != nil {
				return nil, err
			}
			if isAnd {
				result = result && b
			} else {
				result = result || b
			}
		}
		return result, nil
	}
}

func compareFn(pred func(int) bool) func(*evalCtx, string, []any) (any, error) {
	return func(_ *evalCtx, name string, a []any) (any, error) {
		switch x := a[0].(type) {
		case json.Number:
			y, ok := a[1].(json.Number)
			if !ok {
				return nil, argTypeError(name, 1, kindOf(x), a[1])
			}
			c, ok := numCompare(x, y)
			if !ok {
				return nil, exprErrorf("The template language function '%s' cannot compare '%s' and '%s'.", name, x, y)
			}
			return pred(c), nil
		case string:
			y, ok := a[1].(string)
			if !ok {
				return nil, argTypeError(name, 1, "String", a[1])
			}
			return pred(strings.Compare(x, y)), nil
		}
		return nil, exprErrorf("The template language function '%s' expects its parameters to be integers or strings, but the first parameter is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, kindOf(a[0]))
	}
}

func fnCoalesce(_ *evalCtx, _ string, a []any) (any, error) {
	for _, v := range a {
		if v != nil {
			return v, nil
		}
	}
	return nil, nil
}

func fnEmpty(_ *evalCtx, name string, a []any) (any, error) {
	switch v := a[0].(type) {
	case nil:
		return true, nil
	case string:
		return v == "", nil
	case []any:
		return len(v) == 0, nil
	case map[string]any:
		return len(v) == 0, nil
	}
	return nil, exprErrorf("The template language function '%s' expects its parameter to be an array, an object, a string or null. The provided value is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, kindOf(a[0]))
}

func fnLength(_ *evalCtx, name string, a []any) (any, error) {
	switch v := a[0].(type) {
	case string:
		return intNumber(int64(len(toUnits(v)))), nil
	case []any:
		return intNumber(int64(len(v))), nil
	case map[string]any:
		return intNumber(int64(len(v))), nil
	}
	return nil, exprErrorf("The template language function '%s' expects its parameter to be an array, an object, or a string. The provided value is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, kindOf(a[0]))
}

func fnContains(_ *evalCtx, name string, a []any) (any, error) {
	switch v := a[0].(type) {
	case string:
		switch item := a[1].(type) {
		case string, json.Number, bool:
			return strings.Contains(v, toText(item)), nil
		}
		return nil, argTypeError(name, 1, "String", a[1])
	case []any:
		return containsValue(v, a[1]), nil
	case map[string]any:
		k, ok := a[1].(string)
		if !ok {
			return nil, argTypeError(name, 1, "String", a[1])
		}
		_, found := lookupKey(v, k)
		return found, nil
	}
	return nil, exprErrorf("The template language function '%s' expects its first parameter to be an array, an object, or a string. The provided value is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, kindOf(a[0]))
}

// fnUnion merges objects (recursively for nested objects, later values
// winning) or concatenates arrays without duplicates.
func fnUnion(_ *evalCtx, name string, a []any) (any, error) {
	switch a[0].(type) {
	case map[string]any:
		out := map[string]any{}
		for i, v := range a {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, argTypeError(name, i, "Object", v)
			}
			mergeObject(out, m)
		}
		return out, nil
	case []any:
		var out []any
		seen := map[string]bool{} // scalars; containers are compared deeply
		for i, v := range a {
			arr, ok := v.([]any)
			if !ok {
				return nil, argTypeError(name, i, "Array", v)
			}
			for _, e := range arr {
				if k, ok := scalarKey(e); ok {
					if !seen[k] {
						seen[k] = true
						out = append(out, e)
					}
					continue
				}
				if !containsValue(out, e) {
					out = append(out, e)
				}
			}
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	}
	return nil, exprErrorf("The template language function '%s' expects its parameters to be all objects or all arrays. The first parameter is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, kindOf(a[0]))
}

// scalarKey gives scalars a key that is equal exactly when deepEqual is.
func scalarKey(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "n", true
	case bool:
		return "b" + strconv.FormatBool(x), true
	case string:
		return "s" + x, true
	case json.Number:
		if i, ok := asInt(x); ok {
			return "#" + strconv.FormatInt(i, 10), true
		}
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				return "#" + strconv.FormatInt(int64(f), 10), true
			}
			return "#" + strconv.FormatFloat(f, 'g', -1, 64), true
		}
	}
	return "", false
}

func mergeObject(dst, src map[string]any) {
	for _, k := range sortedKeys(src) {
		v := src[k]
		key := k
		for existing := range dst {
			if strings.EqualFold(existing, k) {
				key = existing
			}
		}
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[key].(map[string]any); ok {
				merged := map[string]any{}
				mergeObject(merged, dm)
				mergeObject(merged, sm)
				dst[key] = merged
				continue
			}
		}
		dst[key] = v
	}
}

func fnIntersection(_ *evalCtx, name string, a []any) (any, error) {
	switch first := a[0].(type) {
	case map[string]any:
		out := map[string]any{}
		for _, k := range sortedKeys(first) {
			keep := true
			for i, v := range a[1:] {
				m, ok := v.(map[string]any)
				if !ok {
					return nil, argTypeError(name, i+1, "Object", v)
				}
				other, found := m[k]
				if !found || !deepEqual(first[k], other) {
					keep = false
				}
			}
			if keep {
				out[k] = first[k]
			}
		}
		return out, nil
	case []any:
		out := []any{}
		for _, e := range first {
			keep := !containsValue(out, e)
			for i, v := range a[1:] {
				arr, ok := v.([]any)
				if !ok {
					return nil, argTypeError(name, i+1, "Array", v)
				}
				keep = keep && containsValue(arr, e)
			}
			if keep {
				out = append(out, e)
			}
		}
		return out, nil
	}
	return nil, exprErrorf("The template language function '%s' expects its parameters to be all objects or all arrays. The first parameter is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, kindOf(a[0]))
}

func fnTakeSkip(take bool) func(*evalCtx, string, []any) (any, error) {
	return func(_ *evalCtx, name string, a []any) (any, error) {
		n, err := intArg(name, a, 1)
		if err != nil {
			return nil, err
		}
		clamp := func(l int) int {
			return int(max(0, min(n, int64(l))))
		}
		switch v := a[0].(type) {
		case string:
			u := toUnits(v)
			k := clamp(len(u))
			if take {
				return fromUnits(u[:k]), nil
			}
			return fromUnits(u[k:]), nil
		case []any:
			k := clamp(len(v))
			if take {
				return append([]any{}, v[:k]...), nil
			}
			return append([]any{}, v[k:]...), nil
		}
		return nil, exprErrorf("The template language function '%s' expects its first parameter to be an array or a string. The provided value is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, kindOf(a[0]))
	}
}

func fnFirstLast(first bool) func(*evalCtx, string, []any) (any, error) {
	return func(_ *evalCtx, name string, a []any) (any, error) {
		switch v := a[0].(type) {
		case string:
			u := toUnits(v)
			if len(u) == 0 {
				return "", nil
			}
			if first {
				return fromUnits(u[:1]), nil
			}
			return fromUnits(u[len(u)-1:]), nil
		case []any:
			if len(v) == 0 {
				return nil, nil
			}
			if first {
				return v[0], nil
			}
			return v[len(v)-1], nil
		}
		return nil, exprErrorf("The template language function '%s' expects its parameter to be an array or a string. The provided value is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, kindOf(a[0]))
	}
}

func fnRange(_ *evalCtx, name string, a []any) (any, error) {
	start, err := intArg(name, a, 0)
	if err != nil {
		return nil, err
	}
	count, err := intArg(name, a, 1)
	if err != nil {
		return nil, err
	}
	if count < 0 || count > 10000 {
		return nil, exprErrorf("The template language function '%s' expects its count to be between 0 and 10000, not '%d'. Please see https://aka.ms/arm-functions for usage details.", name, count)
	}
	if start+count-1 > math.MaxInt32 || start < math.MinInt32 {
		return nil, exprErrorf("The template language function '%s' expects the sum of start index and count to be no greater than %d. Please see https://aka.ms/arm-functions for usage details.", name, math.MaxInt32)
	}
	out := make([]any, count)
	for i := range out {
		out[i] = intNumber(start + int64(i))
	}
	return out, nil
}

// fnItems turns an object into [{key, value}] sorted by key, as ARM does.
func fnItems(_ *evalCtx, name string, a []any) (any, error) {
	m, ok := a[0].(map[string]any)
	if !ok {
		return nil, argTypeError(name, 0, "Object", a[0])
	}
	keys := sortedKeys(m)
	sort.SliceStable(keys, func(i, j int) bool { return strings.ToLower(keys[i]) < strings.ToLower(keys[j]) })
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = map[string]any{"key": k, "value": m[k]}
	}
	return out, nil
}

func fnObjectKeys(_ *evalCtx, name string, a []any) (any, error) {
	m, ok := a[0].(map[string]any)
	if !ok {
		return nil, argTypeError(name, 0, "Object", a[0])
	}
	out := []any{}
	for _, k := range sortedKeys(m) {
		out = append(out, k)
	}
	return out, nil
}

func checkedAdd(a, b int64) (int64, string) {
	if b == math.MinInt64 { // only reachable through sub(x, MinInt64)
		return 0, "the result overflows a 64-bit integer"
	}
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, "the result overflows a 64-bit integer"
	}
	return s, ""
}

func checkedMul(a, b int64) (int64, string) {
	p := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	if !p.IsInt64() {
		return 0, "the result overflows a 64-bit integer"
	}
	return p.Int64(), ""
}

func arith(op func(a, b int64) (int64, string)) func(*evalCtx, string, []any) (any, error) {
	return func(_ *evalCtx, name string, a []any) (any, error) {
		x, err := intArg(name, a, 0)
		if err != nil {
			return nil, err
		}
		y, err := intArg(name, a, 1)
		if err != nil {
			return nil, err
		}
		r, problem := op(x, y)
		if problem != "" {
			return nil, exprErrorf("The template language function '%s' cannot be evaluated for '%d' and '%d': %s.", name, x, y, problem)
		}
		return intNumber(r), nil
	}
}

func minMax(isMin bool) func(*evalCtx, string, []any) (any, error) {
	return func(_ *evalCtx, name string, a []any) (any, error) {
		vals := a
		if len(a) == 1 {
			arr, ok := a[0].([]any)
			if !ok {
				return nil, argTypeError(name, 0, "Array", a[0])
			}
			vals = arr
		}
		if len(vals) == 0 {
			return nil, exprErrorf("The template language function '%s' needs at least one integer. Please see https://aka.ms/arm-functions for usage details.", name)
		}
		var best int64
		for i, v := range vals {
			n, ok := asInt(v)
			if !ok {
				return nil, exprErrorf("The template language function '%s' expects integers, but item %d is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, i, kindOf(v))
			}
			if i == 0 || (isMin && n < best) || (!isMin && n > best) {
				best = n
			}
		}
		return intNumber(best), nil
	}
}

// fnTryGet walks keys and indexes like property access but yields null
// instead of failing when something is missing.
func fnTryGet(_ *evalCtx, _ string, a []any) (any, error) {
	v := a[0]
	for _, k := range a[1:] {
		switch c := v.(type) {
		case map[string]any:
			s, ok := k.(string)
			if !ok {
				return nil, nil
			}
			if v, ok = lookupKey(c, s); !ok {
				return nil, nil
			}
		case []any:
			i, ok := asInt(k)
			if !ok || i < 0 || i >= int64(len(c)) {
				return nil, nil
			}
			v = c[i]
		default:
			return nil, nil
		}
	}
	return v, nil
}

func fnFlatten(_ *evalCtx, name string, a []any) (any, error) {
	arr, ok := a[0].([]any)
	if !ok {
		return nil, argTypeError(name, 0, "Array", a[0])
	}
	out := []any{}
	for i, e := range arr {
		inner, ok := e.([]any)
		if !ok {
			return nil, exprErrorf("The template language function '%s' expects an array of arrays, but item %d is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, i, kindOf(e))
		}
		out = append(out, inner...)
	}
	return out, nil
}

func fnShallowMerge(_ *evalCtx, name string, a []any) (any, error) {
	arr, ok := a[0].([]any)
	if !ok {
		return nil, argTypeError(name, 0, "Array", a[0])
	}
	out := map[string]any{}
	for i, e := range arr {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, exprErrorf("The template language function '%s' expects an array of objects, but item %d is of type '%s'. Please see https://aka.ms/arm-functions for usage details.", name, i, kindOf(e))
		}
		for _, k := range sortedKeys(m) {
			for existing := range out {
				if strings.EqualFold(existing, k) && existing != k {
					delete(out, existing)
				}
			}
			out[k] = m[k]
		}
	}
	return out, nil
}
