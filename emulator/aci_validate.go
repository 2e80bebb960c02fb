package emulator

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/aciworker/aciworker/emulator/armtemplate"
)

// groupSpec is a validated container group definition.
type groupSpec struct {
	location      string
	tags          map[string]any
	identity      map[string]any // as sent (validated), nil when absent
	identityIDs   map[string]string
	osType        string
	restartPolicy string
	containers    []containerSpec
	registries    map[string]bool // lower-cased servers with credentials
	cores         float64
	gpu           bool
	// props is the "properties" object to echo, with secrets removed.
	props map[string]any
	extra map[string]any // zones, sku, extendedLocation, kind
}

type containerSpec struct {
	name    string
	image   string
	command []string
	env     map[string]string // value and secureValue variables alike
	cpu     float64
	memory  float64
}

var (
	dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	subnetIDRE = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+$`)
	uaiIDRE    = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/[^/]+$`)
)

const dnsLabelRule = "must contain no more than 63 characters and must match the regex '[a-z0-9]([-a-z0-9]*[a-z0-9])?' (e.g. 'my-name')"

func validGroupName(n string) bool {
	return len(n) >= 1 && len(n) <= 63 && dnsLabelRE.MatchString(n) && !strings.Contains(n, "--")
}

func validateGroupName(n string) *apiError {
	if validGroupName(n) {
		return nil
	}
	return badRequest("InvalidContainerGroupName",
		"The container group name '%s' is invalid. The container group name %s and must not contain consecutive hyphens.", n, dnsLabelRule)
}

// deserialize reports a body member of the wrong JSON type the way ARM's
// deserializer does.
func deserialize(path, want string, v any) *apiError {
	b, _ := json.Marshal(v)
	return badRequest("InvalidRequestContent",
		"The request content was invalid and could not be deserialized: 'Error converting value %s to type '%s'. Path '%s'.'", string(b), want, path)
}

func required(path, member string) *apiError {
	return badRequest("InvalidRequestContent",
		"The request content was invalid and could not be deserialized: 'Required property '%s' not found in JSON. Path '%s'.'", member, path)
}

func obj(m map[string]any, key, path string) (map[string]any, *apiError) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		return nil, deserialize(join(path, key), "Object", v)
	}
	return o, nil
}

func arr(m map[string]any, key, path string) ([]any, bool, *apiError) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, false, nil
	}
	a, ok := v.([]any)
	if !ok {
		return nil, true, deserialize(join(path, key), "Array", v)
	}
	return a, true, nil
}

func str(m map[string]any, key, path string) (string, bool, *apiError) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", false, nil
	}
	switch x := v.(type) {
	case string:
		return x, true, nil
	case json.Number, bool:
		// ARM's deserializer turns scalars into strings.
		return fmt.Sprint(x), true, nil
	}
	return "", true, deserialize(join(path, key), "System.String", v)
}

func num(m map[string]any, key, path string) (float64, bool, *apiError) {
	v, ok := m[key]
	if !ok || v == nil {
		return 0, false, nil
	}
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case float64:
		return x, true, nil
	case int:
		return float64(x), true, nil
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, true, deserialize(join(path, key), "System.Double", v)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, true, deserialize(join(path, key), "System.Double", v)
	}
	return f, true, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// validateGroup checks a container group PUT body as strictly as ACI does
// and returns the parsed spec. cfg supplies the GPU switch.
func validateGroup(name string, body map[string]any, allowGPU bool) (*groupSpec, *apiError) {
	if e := validateGroupName(name); e != nil {
		return nil, e
	}
	spec := &groupSpec{extra: map[string]any{}}
	loc, _, e := str(body, "location", "")
	if e != nil {
		return nil, e
	}
	if loc == "" {
		return nil, badRequest("LocationRequired", "The location property is required for this definition.")
	}
	if !validLocation(loc) {
		return nil, badRequest("LocationNotAvailableForResourceType",
			"The provided location '%s' is not available for resource type 'Microsoft.ContainerInstance/containerGroups'. List of available regions for the resource type is '%s'.",
			loc, strings.ToLower(strings.ReplaceAll(strings.Join(locationsDisplay, ","), " ", "")))
	}
	spec.location = normLocation(loc)
	if spec.tags, e = validateTags(body); e != nil {
		return nil, e
	}
	for _, k := range []string{"zones", "sku", "kind", "extendedLocation"} {
		if v, ok := body[k]; ok && v != nil {
			spec.extra[k] = v
		}
	}
	if e := validateIdentity(body, spec); e != nil {
		return nil, e
	}
	props, e := obj(body, "properties", "")
	if e != nil {
		return nil, e
	}
	if props == nil {
		return nil, required("", "properties")
	}
	echo := make(map[string]any, len(props))
	for k, v := range props {
		echo[k] = v
	}
	spec.props = echo

	os, _, e := str(props, "osType", "properties")
	if e != nil {
		return nil, e
	}
	switch strings.ToLower(os) {
	case "linux":
		spec.osType = "Linux"
	case "windows":
		return nil, badRequest("OsVersionNotSupported",
			"The OS type 'Windows' of container group '%s' is not supported by this emulator: containers run as local Linux processes. Use 'Linux'.", name)
	default:
		shown := os
		if shown == "" {
			shown = "<null>"
		}
		return nil, badRequest("InvalidOsType", "The 'osType' for container group '%s' is invalid. The value must be one of 'Windows,Linux'.", shown)
	}
	echo["osType"] = spec.osType

	rp, has, e := str(props, "restartPolicy", "properties")
	if e != nil {
		return nil, e
	}
	switch strings.ToLower(rp) {
	case "":
		if has {
			return nil, badRequest("InvalidRestartPolicy", "The restart policy '' of container group '%s' is invalid. The value must be one of 'Always,OnFailure,Never'.", name)
		}
		spec.restartPolicy = "Always"
	case "always":
		spec.restartPolicy = "Always"
	case "onfailure":
		spec.restartPolicy = "OnFailure"
	case "never":
		spec.restartPolicy = "Never"
	default:
		return nil, badRequest("InvalidRestartPolicy", "The restart policy '%s' of container group '%s' is invalid. The value must be one of 'Always,OnFailure,Never'.", rp, name)
	}
	echo["restartPolicy"] = spec.restartPolicy

	if e := validateContainers(name, props, echo, spec, allowGPU); e != nil {
		return nil, e
	}
	if e := validateRegistries(name, props, echo, spec); e != nil {
		return nil, e
	}
	if e := validateSubnets(name, props); e != nil {
		return nil, e
	}
	if e := validateDNSConfig(name, props); e != nil {
		return nil, e
	}
	if ip, e := obj(props, "ipAddress", "properties"); e != nil {
		return nil, e
	} else if ip != nil {
		if _, ok := props["subnetIds"]; ok {
			if t, _, _ := str(ip, "type", "properties.ipAddress"); eq(t, "Public") {
				return nil, badRequest("PublicIPAddressNotSupportedWithSubnet", "The container group '%s' cannot have a public IP address when it is deployed into a virtual network subnet.", name)
			}
		}
	}
	if ic, _, e := arr(props, "initContainers", "properties"); e != nil {
		return nil, e
	} else if len(ic) > 0 {
		return nil, badRequest("InitContainersNotSupported", "Init containers in container group '%s' are not supported by this emulator.", name)
	}
	if _, ok := echo["sku"]; !ok {
		echo["sku"] = "Standard"
	}
	if _, ok := echo["initContainers"]; !ok {
		echo["initContainers"] = []any{}
	}
	return spec, nil
}

func validateTags(body map[string]any) (map[string]any, *apiError) {
	tags, e := obj(body, "tags", "")
	if e != nil {
		return nil, e
	}
	if len(tags) > 50 {
		return nil, badRequest("InvalidTag", "The number of tags %d exceeds the maximum of 50.", len(tags))
	}
	for k, v := range tags {
		if len(k) > 512 {
			return nil, badRequest("InvalidTagNameLength", "The tag name '%s' exceeds the maximum length of 512 characters.", k)
		}
		if strings.ContainsAny(k, "<>%&\\?/") {
			return nil, badRequest("InvalidTagNameCharacters", "The tag names '%s' have reserved characters '<,>,%%,&,\\,?,/'.", k)
		}
		s, ok := v.(string)
		if !ok && v != nil {
			return nil, deserialize("tags."+k, "System.String", v)
		}
		if len(s) > 256 {
			return nil, badRequest("InvalidTagValueLength", "The tag value for tag '%s' exceeds the maximum length of 256 characters.", k)
		}
	}
	return tags, nil
}

func validateIdentity(body map[string]any, spec *groupSpec) *apiError {
	id, e := obj(body, "identity", "")
	if e != nil || id == nil {
		return e
	}
	typ, _, e := str(id, "type", "identity")
	if e != nil {
		return e
	}
	norm := strings.ToLower(strings.ReplaceAll(typ, " ", ""))
	var wantUser, wantSystem bool
	switch norm {
	case "userassigned":
		wantUser = true
	case "systemassigned":
		wantSystem = true
	case "systemassigned,userassigned":
		wantUser, wantSystem = true, true
	case "none":
	default:
		return badRequest("InvalidIdentityType",
			"The identity type '%s' is invalid. The supported values are 'SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned' and 'None'.", typ)
	}
	uai, e := obj(id, "userAssignedIdentities", "identity")
	if e != nil {
		return e
	}
	if wantUser && len(uai) == 0 {
		return badRequest("BadRequest", "The identity type '%s' requires at least one user assigned identity in 'identity.userAssignedIdentities'.", typ)
	}
	if !wantUser && len(uai) > 0 {
		return badRequest("BadRequest", "The 'identity.userAssignedIdentities' can only be given when the identity type includes 'UserAssigned'; the type is '%s'.", typ)
	}
	spec.identityIDs = map[string]string{}
	out := map[string]any{"type": typ}
	if wantUser {
		ids := make([]string, 0, len(uai))
		for k := range uai {
			ids = append(ids, k)
		}
		sort.Strings(ids)
		echo := map[string]any{}
		for _, k := range ids {
			if !uaiIDRE.MatchString(k) {
				return badRequest("InvalidUserAssignedIdentityId",
					"The user assigned identity id '%s' is invalid. It must be a resource id of the form '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{identityName}'.", k)
			}
			if v := uai[k]; v != nil {
				if _, ok := v.(map[string]any); !ok {
					return deserialize("identity.userAssignedIdentities."+k, "UserAssignedIdentities", v)
				}
			}
			spec.identityIDs[strings.ToLower(k)] = k
			echo[k] = map[string]any{"principalId": guidFrom("principal", k), "clientId": guidFrom("client", k)}
		}
		out["userAssignedIdentities"] = echo
	}
	if wantSystem {
		out["principalId"] = newGUID()
		out["tenantId"] = ""
	}
	spec.identity = out
	return nil
}

func validateContainers(group string, props, echo map[string]any, spec *groupSpec, allowGPU bool) *apiError {
	list, has, e := arr(props, "containers", "properties")
	if e != nil {
		return e
	}
	if !has {
		return required("properties", "containers")
	}
	if len(list) == 0 {
		return badRequest("NoContainersInContainerGroup", "The container group '%s' must have at least one container.", group)
	}
	if len(list) > 60 {
		return badRequest("ContainerGroupContainerCountExceeded", "The container group '%s' has %d containers; the maximum is 60.", group, len(list))
	}
	seen := map[string]bool{}
	out := make([]any, 0, len(list))
	for i, item := range list {
		path := fmt.Sprintf("properties.containers[%d]", i)
		c, ok := item.(map[string]any)
		if !ok {
			return deserialize(path, "Container", item)
		}
		name, _, e := str(c, "name", path)
		if e != nil {
			return e
		}
		if name == "" {
			return required(path, "name")
		}
		if len(name) > 63 || !dnsLabelRE.MatchString(name) {
			return badRequest("InvalidContainerName", "The container name '%s' in container group '%s' is invalid. The container name %s.", name, group, dnsLabelRule)
		}
		if seen[name] {
			return badRequest("DuplicateContainerName", "The container name '%s' is used more than once in container group '%s'. Container names must be unique.", name, group)
		}
		seen[name] = true
		cp, e := obj(c, "properties", path)
		if e != nil {
			return e
		}
		if cp == nil {
			return required(path, "properties")
		}
		path += ".properties"
		cs := containerSpec{name: name, env: map[string]string{}}
		img, has, e := str(cp, "image", path)
		if e != nil {
			return e
		}
		if !has {
			return required(path, "image")
		}
		if strings.TrimSpace(img) == "" || strings.ContainsAny(img, " \t\n") {
			return badRequest("InvalidContainerImage", "The image '%s' of container '%s' in container group '%s' is invalid. The image must be a non-empty image reference without whitespace.", img, name, group)
		}
		cs.image = img
		if cmd, _, e := arr(cp, "command", path); e != nil {
			return e
		} else {
			for j, a := range cmd {
				s, ok := a.(string)
				if !ok {
					return deserialize(fmt.Sprintf("%s.command[%d]", path, j), "System.String", a)
				}
				cs.command = append(cs.command, s)
			}
		}
		if e := validateResources(group, name, path, cp, &cs, spec, allowGPU); e != nil {
			return e
		}
		envEcho, e := validateEnv(group, name, path, cp, &cs)
		if e != nil {
			return e
		}
		cpEcho := make(map[string]any, len(cp))
		for k, v := range cp {
			cpEcho[k] = v
		}
		cpEcho["environmentVariables"] = envEcho
		if _, ok := cpEcho["ports"]; !ok {
			cpEcho["ports"] = []any{}
		}
		cEcho := map[string]any{"name": name, "properties": cpEcho}
		out = append(out, cEcho)
		spec.containers = append(spec.containers, cs)
	}
	echo["containers"] = out
	return nil
}

func validateResources(group, name, path string, cp map[string]any, cs *containerSpec, spec *groupSpec, allowGPU bool) *apiError {
	res, e := obj(cp, "resources", path)
	if e != nil {
		return e
	}
	notSpecified := badRequest("ResourceRequestsNotSpecified",
		"The resource requests of container '%s' in container group '%s' are not specified. Both 'cpu' and 'memoryInGB' requests are required.", name, group)
	if res == nil {
		return notSpecified
	}
	req, e := obj(res, "requests", path+".resources")
	if e != nil {
		return e
	}
	if req == nil {
		return notSpecified
	}
	rpath := path + ".resources.requests"
	cpu, hasCPU, e := num(req, "cpu", rpath)
	if e != nil {
		return e
	}
	mem, hasMem, e := num(req, "memoryInGB", rpath)
	if e != nil {
		return e
	}
	if !hasCPU || !hasMem {
		return notSpecified
	}
	if cpu <= 0 || cpu > 4 {
		return badRequest("InvalidContainerResourceRequest",
			"The 'cpu' request '%s' of container '%s' in container group '%s' is invalid. It must be greater than 0 and at most 4 cores for a standard container group.", fmtNum(cpu), name, group)
	}
	if mem <= 0 || mem > 16 {
		return badRequest("InvalidContainerResourceRequest",
			"The 'memoryInGB' request '%s' of container '%s' in container group '%s' is invalid. It must be greater than 0 and at most 16 GB for a standard container group.", fmtNum(mem), name, group)
	}
	cs.cpu, cs.memory = cpu, mem
	spec.cores += cpu
	if lim, e := obj(res, "limits", path+".resources"); e != nil {
		return e
	} else if lim != nil {
		lpath := path + ".resources.limits"
		lcpu, hasL, e := num(lim, "cpu", lpath)
		if e != nil {
			return e
		}
		lmem, hasM, e := num(lim, "memoryInGB", lpath)
		if e != nil {
			return e
		}
		if (hasL && lcpu < cpu) || (hasM && lmem < mem) {
			return badRequest("ContainerLimitLessThanRequest", "The resource limits of container '%s' in container group '%s' must not be less than its requests.", name, group)
		}
	}
	gpu, e := obj(req, "gpu", rpath)
	if e != nil {
		return e
	}
	if gpu == nil {
		return nil
	}
	count, hasCount, e := num(gpu, "count", rpath+".gpu")
	if e != nil {
		return e
	}
	sku, _, e := str(gpu, "sku", rpath+".gpu")
	if e != nil {
		return e
	}
	if !hasCount || count != math.Trunc(count) || (count != 1 && count != 2 && count != 4) {
		return badRequest("InvalidGpuCount", "The GPU count '%s' of container '%s' in container group '%s' is invalid. The value must be one of '1,2,4'.", fmtNum(count), name, group)
	}
	switch strings.ToUpper(sku) {
	case "K80", "P100", "V100":
	default:
		return badRequest("InvalidGpuSku", "The GPU sku '%s' of container '%s' in container group '%s' is invalid. The value must be one of 'K80,P100,V100'.", sku, name, group)
	}
	spec.gpu = true
	if !allowGPU {
		return newErr(409, "ServiceUnavailable",
			"The requested resource is not available in the location '%s' at this moment. Please retry with a different resource request or in another location. Resource requested: '%s' CPU '%s' GB memory 'Linux' OS '%s' GPU SKU '%s' GPU count. GPU container groups are retired in Azure Container Instances.",
			spec.location, fmtNum(cpu), fmtNum(mem), strings.ToUpper(sku), fmtNum(count))
	}
	return nil
}

func validateEnv(group, name, path string, cp map[string]any, cs *containerSpec) ([]any, *apiError) {
	list, _, e := arr(cp, "environmentVariables", path)
	if e != nil {
		return nil, e
	}
	out := make([]any, 0, len(list))
	for i, item := range list {
		p := fmt.Sprintf("%s.environmentVariables[%d]", path, i)
		ev, ok := item.(map[string]any)
		if !ok {
			return nil, deserialize(p, "EnvironmentVariable", item)
		}
		n, _, e := str(ev, "name", p)
		if e != nil {
			return nil, e
		}
		if n == "" {
			return nil, required(p, "name")
		}
		if len(n) > 63 || !envNameRE.MatchString(n) {
			return nil, badRequest("InvalidEnvironmentVariableName",
				"The environment variable name '%s' of container '%s' in container group '%s' is invalid. A valid name must contain only letters, digits and underscores and be at most 63 characters long.", n, name, group)
		}
		if _, dup := cs.env[n]; dup {
			return nil, badRequest("DuplicateEnvironmentVariableName", "The environment variable name '%s' is used more than once in container '%s' of container group '%s'.", n, name, group)
		}
		val, hasVal, e := str(ev, "value", p)
		if e != nil {
			return nil, e
		}
		sec, hasSec, e := str(ev, "secureValue", p)
		if e != nil {
			return nil, e
		}
		if hasVal == hasSec {
			return nil, badRequest("InvalidEnvironmentVariable",
				"The environment variable '%s' of container '%s' in container group '%s' is invalid. Exactly one of 'value' and 'secureValue' must be given.", n, name, group)
		}
		if hasSec {
			cs.env[n] = sec
			// ACI never returns a secure value: only the name survives.
			out = append(out, map[string]any{"name": n})
		} else {
			cs.env[n] = val
			out = append(out, map[string]any{"name": n, "value": val})
		}
	}
	return out, nil
}

func validateRegistries(group string, props, echo map[string]any, spec *groupSpec) *apiError {
	list, _, e := arr(props, "imageRegistryCredentials", "properties")
	if e != nil {
		return e
	}
	if list == nil {
		return nil
	}
	out := make([]any, 0, len(list))
	for i, item := range list {
		p := fmt.Sprintf("properties.imageRegistryCredentials[%d]", i)
		rc, ok := item.(map[string]any)
		if !ok {
			return deserialize(p, "ImageRegistryCredential", item)
		}
		server, _, e := str(rc, "server", p)
		if e != nil {
			return e
		}
		if strings.TrimSpace(server) == "" {
			return badRequest("InvalidImageRegistryServer", "The image registry server of credential %d in container group '%s' is not specified.", i, group)
		}
		if strings.Contains(server, "/") || strings.ContainsAny(server, " \t") {
			return badRequest("InvalidImageRegistryServer", "The image registry server '%s' in container group '%s' is invalid. It must be a host name such as 'myregistry.azurecr.io', without a scheme or path.", server, group)
		}
		user, hasUser, e := str(rc, "username", p)
		if e != nil {
			return e
		}
		_, hasPass, e := str(rc, "password", p)
		if e != nil {
			return e
		}
		ident, hasIdent, e := str(rc, "identity", p)
		if e != nil {
			return e
		}
		switch {
		case hasIdent && (hasUser || hasPass):
			return badRequest("InvalidImageRegistryCredentialType",
				"The image registry credential for server '%s' in container group '%s' must use either 'username' and 'password' or 'identity', not both.", server, group)
		case hasIdent:
			if ident == "" {
				return badRequest("InvalidImageRegistryCredentialIdentity", "The image registry credential identity for server '%s' in container group '%s' is empty.", server, group)
			}
			if strings.EqualFold(ident, "[system]") {
				return badRequest("InvalidImageRegistryCredentialIdentity",
					"The image registry credential for server '%s' in container group '%s' uses a system-assigned identity, which cannot pull images. Use a user-assigned identity.", server, group)
			}
			if _, ok := spec.identityIDs[strings.ToLower(ident)]; !ok {
				return badRequest("InvalidImageRegistryCredentialIdentity",
					"The image registry credential identity '%s' for server '%s' is not one of the user assigned identities of container group '%s'. Add it to 'identity.userAssignedIdentities'.", ident, server, group)
			}
		case hasUser && user != "" && hasPass:
		default:
			return badRequest("InvalidImageRegistryCredential",
				"The image registry credential for server '%s' in container group '%s' is invalid: give 'username' and 'password', or 'identity'.", server, group)
		}
		if spec.registries == nil {
			spec.registries = map[string]bool{}
		}
		spec.registries[strings.ToLower(server)] = true
		safe := map[string]any{"server": server}
		if hasUser {
			safe["username"] = user
		}
		if hasIdent {
			safe["identity"] = ident
		}
		if u, ok := rc["identityUrl"]; ok {
			safe["identityUrl"] = u
		}
		out = append(out, safe)
	}
	echo["imageRegistryCredentials"] = out
	return nil
}

func validateSubnets(group string, props map[string]any) *apiError {
	list, _, e := arr(props, "subnetIds", "properties")
	if e != nil {
		return e
	}
	for i, item := range list {
		p := fmt.Sprintf("properties.subnetIds[%d]", i)
		s, ok := item.(map[string]any)
		if !ok {
			return deserialize(p, "ContainerGroupSubnetId", item)
		}
		id, _, e := str(s, "id", p)
		if e != nil {
			return e
		}
		if id == "" {
			return required(p, "id")
		}
		if !subnetIDRE.MatchString(id) {
			return badRequest("InvalidSubnetId",
				"The subnet id '%s' of container group '%s' is invalid. It must be a resource id of the form '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}'.", id, group)
		}
	}
	return nil
}

func validateDNSConfig(group string, props map[string]any) *apiError {
	dc, e := obj(props, "dnsConfig", "properties")
	if e != nil || dc == nil {
		return e
	}
	ns, has, e := arr(dc, "nameServers", "properties.dnsConfig")
	if e != nil {
		return e
	}
	if !has {
		return required("properties.dnsConfig", "nameServers")
	}
	if len(ns) == 0 {
		return badRequest("InvalidDnsConfig", "The DNS configuration of container group '%s' must list at least one name server.", group)
	}
	for i, v := range ns {
		s, ok := v.(string)
		if !ok {
			return deserialize(fmt.Sprintf("properties.dnsConfig.nameServers[%d]", i), "System.String", v)
		}
		if strings.TrimSpace(s) == "" {
			return badRequest("InvalidDnsConfig", "The DNS name server %d of container group '%s' is empty.", i, group)
		}
	}
	for _, k := range []string{"searchDomains", "options"} {
		if v, ok := dc[k]; ok && v != nil {
			if _, ok := v.(string); !ok {
				return deserialize("properties.dnsConfig."+k, "System.String", v)
			}
		}
	}
	return nil
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// guidFrom derives a stable GUID-shaped id from a resource id, so that a
// user-assigned identity reports the same principal id every time.
func guidFrom(kind, id string) string {
	return armtemplate.Guid(kind, strings.ToLower(id))
}
