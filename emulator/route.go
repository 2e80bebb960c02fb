package emulator

import (
	"net/http"
	"strings"
)

// area says which part of the emulator serves a request.
type area int

const (
	areaUnknown area = iota
	areaAdmin
	areaEntra
	areaARM
	areaMetadata // the cloud metadata document, served without a token
)

// kind is the ARM resource type a request addresses; it selects the
// accepted api-versions.
type kind int

const (
	kindNone kind = iota
	kindResourceGroups
	kindDeployments
	kindContainerGroups
	kindACIOperations
	kindDeploymentOperations
	kindOperationResults
	kindACIUsages
	kindSubscriptions
	kindTenants
	kindLocations
	kindProviders
)

// route is a parsed request path. ARM compares every path segment name and
// every resource name case-insensitively, so matching lowers the segment
// names and keeps the names as sent (lookups lower them again).
type route struct {
	area   area
	op     string
	kind   kind
	tenant string
	sub    string
	rg     string
	name   string // deployment or container group name
	child  string // container name, operation id
	loc    string // location for ACI operations / usages
	action string
}

// class is the ARM throttling bucket of a request: GET/HEAD are reads,
// DELETE deletes, anything else writes.
func class(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return "reads"
	case http.MethodDelete:
		return "deletes"
	default:
		return "writes"
	}
}

func eq(a, b string) bool { return strings.EqualFold(a, b) }

func parseRoute(method, path string) route {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	n := len(segs)
	at := func(i int) string {
		if i < n {
			return segs[i]
		}
		return ""
	}
	if n >= 1 && at(0) == "_emulator" {
		return route{area: areaAdmin, op: "admin", action: strings.Join(segs[1:], "/")}
	}
	// Entra ID.
	if n == 3 && eq(at(0), "common") && eq(at(1), "discovery") && eq(at(2), "instance") {
		return route{area: areaEntra, op: "instanceDiscovery"}
	}
	if n == 4 && eq(at(1), "v2.0") && eq(at(2), ".well-known") && eq(at(3), "openid-configuration") {
		return route{area: areaEntra, op: "openidConfiguration", tenant: at(0)}
	}
	if n == 4 && eq(at(1), "oauth2") && eq(at(2), "v2.0") && eq(at(3), "token") {
		return route{area: areaEntra, op: "token", tenant: at(0)}
	}
	if n == 2 && eq(at(0), "metadata") && eq(at(1), "endpoints") {
		return route{area: areaMetadata, op: "metadata.endpoints"}
	}
	// Tenant-level ARM: no subscription in the path.
	switch {
	case n == 1 && eq(at(0), "subscriptions"):
		return route{area: areaARM, kind: kindSubscriptions, op: "subscriptions.list"}
	case n == 1 && eq(at(0), "tenants"):
		return route{area: areaARM, kind: kindTenants, op: "tenants.list"}
	case n == 1 && eq(at(0), "providers"):
		return route{area: areaARM, kind: kindProviders, op: "providers.listAtTenantScope"}
	case n == 2 && eq(at(0), "providers"):
		return route{area: areaARM, kind: kindProviders, name: at(1), op: "providers.getAtTenantScope"}
	}
	if n < 2 || !eq(at(0), "subscriptions") || at(1) == "" {
		return route{area: areaUnknown, op: "unknown"}
	}
	r := route{area: areaARM, sub: at(1), op: "unknown"}
	switch {
	case n == 2:
		r.kind, r.op = kindSubscriptions, "subscriptions.get"
		return r
	case n == 3 && eq(at(2), "locations"):
		r.kind, r.op = kindLocations, "subscriptions.listLocations"
		return r
	case n == 3 && eq(at(2), "providers"):
		r.kind, r.op = kindProviders, "providers.list"
		return r
	case n == 4 && eq(at(2), "providers"):
		r.kind, r.name, r.op = kindProviders, at(3), "providers.get"
		return r
	case n == 5 && eq(at(2), "providers") && eq(at(4), "register"):
		r.kind, r.name, r.action, r.op = kindProviders, at(3), "register", "providers.register"
		return r
	case n == 3 && eq(at(2), "resourcegroups"):
		r.kind, r.op = kindResourceGroups, "resourceGroups.list"
		return r
	case n == 4 && eq(at(2), "resourcegroups"):
		r.kind, r.rg = kindResourceGroups, at(3)
		r.op = "resourceGroups." + verb(method)
		return r
	case n == 4 && eq(at(2), "operationresults"):
		r.kind, r.child, r.op = kindOperationResults, at(3), "operations.get"
		return r
	case n >= 5 && eq(at(2), "providers") && eq(at(3), "Microsoft.ContainerInstance"):
		switch {
		case n == 5 && eq(at(4), "containerGroups"):
			r.kind, r.op = kindContainerGroups, "containerGroups.listBySubscription"
		case n == 8 && eq(at(4), "locations") && eq(at(6), "operations"):
			r.kind, r.loc, r.child, r.op = kindACIOperations, at(5), at(7), "operations.get"
		case n == 7 && eq(at(4), "locations") && eq(at(6), "usages"):
			r.kind, r.loc, r.op = kindACIUsages, at(5), "usages.list"
		default:
			r.op = "unknown"
		}
		return r
	}
	if n < 7 || !eq(at(2), "resourcegroups") || !eq(at(4), "providers") {
		return r
	}
	r.rg = at(3)
	switch {
	case eq(at(5), "Microsoft.Resources") && eq(at(6), "deployments"):
		r.kind = kindDeployments
		switch n {
		case 7:
			r.op = "deployments.list"
		case 8:
			r.name = at(7)
			r.op = "deployments." + verb(method)
		case 9:
			r.name, r.action = at(7), strings.ToLower(at(8))
			switch r.action {
			case "cancel":
				r.op = "deployments.cancel"
			case "exporttemplate":
				r.op = "deployments.exportTemplate"
			default:
				r.op = "unknown"
			}
		case 10:
			if eq(at(8), "operationStatuses") {
				r.kind, r.name, r.child, r.op = kindDeploymentOperations, at(7), at(9), "operations.get"
			}
		}
	case eq(at(5), "Microsoft.ContainerInstance") && eq(at(6), "containerGroups"):
		r.kind = kindContainerGroups
		switch n {
		case 7:
			r.op = "containerGroups.list"
		case 8:
			r.name = at(7)
			r.op = "containerGroups." + verb(method)
		case 9:
			r.name, r.action = at(7), strings.ToLower(at(8))
			switch r.action {
			case "stop", "start", "restart":
				r.op = "containerGroups." + r.action
			default:
				r.op = "unknown"
			}
		case 11:
			if eq(at(8), "containers") && eq(at(10), "logs") {
				r.name, r.child, r.op = at(7), at(9), "containers.logs"
			}
		}
	}
	return r
}

func verb(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return "get"
	case http.MethodPut:
		return "put"
	case http.MethodDelete:
		return "delete"
	case http.MethodPatch:
		return "patch"
	default:
		return strings.ToLower(method)
	}
}
