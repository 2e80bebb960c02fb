package emulator

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// statusWriter remembers the status a handler wrote, and the body when a
// response hook wants it.
type statusWriter struct {
	http.ResponseWriter
	status int
	body   *bytes.Buffer
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if s.body != nil {
		s.body.Write(b)
	}
	return s.ResponseWriter.Write(b)
}

// ServeHTTP dispatches Entra ID, ARM and admin requests.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rt := parseRoute(r.Method, r.URL.Path)
	if rt.area == areaAdmin {
		if aerr := e.authenticateAdmin(r); aerr != nil {
			writeError(w, aerr)
			return
		}
		e.serveAdmin(w, r, rt)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	if e.cfg.ResponseHook != nil {
		sw.body = &bytes.Buffer{}
	}
	reqID := newGUID()
	corr := r.Header.Get("x-ms-correlation-request-id")
	if corr == "" {
		corr = r.Header.Get("x-ms-client-request-id")
	}
	if corr == "" {
		corr = newGUID()
	}
	h := w.Header()
	h.Set("x-ms-request-id", reqID)
	h.Set("x-ms-correlation-request-id", corr)
	h.Set("x-ms-routing-request-id", strings.ToUpper(e.cfg.Location)+":"+start.UTC().Format("20060102T150405Z")+":"+reqID)
	if cid := r.Header.Get("x-ms-client-request-id"); cid != "" {
		h.Set("x-ms-client-request-id", cid)
	}
	h.Set("Cache-Control", "no-cache")

	switch rt.area {
	case areaEntra:
		e.serveEntra(sw, r, rt)
	case areaARM:
		e.serveARM(sw, r, rt, corr)
	case areaMetadata:
		e.serveMetadata(sw, r)
	default:
		writeError(sw, newErr(http.StatusNotFound, "NotFound", "The requested path '%s' is not served by this emulator.", r.URL.Path))
	}
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	if e.cfg.ResponseHook != nil {
		e.cfg.ResponseHook(Response{Op: rt.op, Method: r.Method, Path: r.URL.Path, APIVersion: r.URL.Query().Get("api-version"),
			Status: sw.status, Body: sw.body.Bytes()})
	}
	e.counters.add(rt.op, sw.status)
	e.reqlog.add(RequestRecord{Time: start.UTC(), Method: r.Method, Path: r.URL.Path, Op: rt.op, Status: sw.status})
	e.log.Debug("request", "method", r.Method, "path", r.URL.Path, "op", rt.op, "status", sw.status, "duration", time.Since(start))
}

// serveARM authenticates, throttles, applies faults and api-version checks,
// then hands the request to the resource handler.
func (e *Emulator) serveARM(w http.ResponseWriter, r *http.Request, rt route, corr string) {
	if aerr := e.authenticate(r); aerr != nil {
		writeError(w, aerr)
		return
	}
	cls := class(r.Method)
	remaining, wait := e.throttle.take(strings.ToLower(rt.sub), cls)
	if wait > 0 {
		secs := int(wait/time.Second) + 1
		aerr := newErr(http.StatusTooManyRequests, "SubscriptionRequestsThrottled",
			"Number of '%s' requests for subscription '%s' actor '%s' exceeded. Please try again after '%d' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.",
			strings.TrimSuffix(cls, "s"), rt.sub, e.cfg.ClientID, secs)
		aerr.RetryAfter = time.Duration(secs) * time.Second
		writeError(w, aerr)
		return
	}
	w.Header().Set("x-ms-ratelimit-remaining-subscription-"+cls, strconv.Itoa(remaining))
	if f := e.faults.take(rt.op); f != nil {
		aerr := newErr(f.Status, f.Code, "%s", f.Message)
		if aerr.Message == "" {
			aerr.Message = fmt.Sprintf("Injected fault for operation '%s'.", rt.op)
		}
		aerr.RetryAfter = f.RetryAfter
		writeError(w, aerr)
		return
	}
	if rt.op == "unknown" {
		writeError(w, unknownRoute(r))
		return
	}
	if aerr := checkAPIVersion(r, rt, e.cfg.Location); aerr != nil {
		writeError(w, aerr)
		return
	}
	if rt.sub != "" && !eq(rt.sub, e.cfg.SubscriptionID) {
		writeError(w, newErr(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", rt.sub))
		return
	}
	req := &armRequest{e: e, w: w, r: r, rt: rt, corr: corr}
	switch rt.kind {
	case kindResourceGroups:
		e.serveResourceGroups(req)
	case kindDeployments:
		e.serveDeployments(req)
	case kindDeploymentOperations:
		e.serveDeploymentStatus(req)
	case kindContainerGroups:
		e.serveContainerGroups(req)
	case kindACIOperations, kindOperationResults:
		e.serveOperation(req)
	case kindACIUsages:
		e.serveUsages(req)
	case kindSubscriptions, kindTenants, kindLocations:
		e.serveDirectory(req)
	case kindProviders:
		e.serveProviders(req)
	default:
		writeError(w, unknownRoute(r))
	}
}

// armRequest carries one ARM request through its handler.
type armRequest struct {
	e    *Emulator
	w    http.ResponseWriter
	r    *http.Request
	rt   route
	corr string
}

func (q *armRequest) apiVersion() string { return q.r.URL.Query().Get("api-version") }

// base is the scheme+host clients reached us on; LRO URLs must be absolute
// and on the same origin.
func (q *armRequest) base() string {
	host := q.r.Host
	if host == "" {
		return q.e.url
	}
	return "https://" + host
}

func (q *armRequest) fail(e *apiError) { writeError(q.w, e) }

func (q *armRequest) json(status int, v any) { writeJSON(q.w, status, v) }

// unknownRoute is ARM's answer to a path it does not route: naming the
// resource type and namespace, as ARM does, when the path has a provider
// segment, else the path and method.
func unknownRoute(r *http.Request) *apiError {
	if ns, typ, ok := resourceTypeOf(r.URL.Path); ok {
		return newErr(http.StatusNotFound, "InvalidResourceType",
			"The resource type '%s' could not be found in the namespace '%s' for api version '%s'.", typ, ns, r.URL.Query().Get("api-version"))
	}
	return newErr(http.StatusNotFound, "InvalidResourceType",
		"The resource type could not be found for the request path '%s' and method '%s'.", r.URL.Path, r.Method)
}

// resourceTypeOf reads the namespace and resource type of an ARM path:
// after its last "providers" segment, the namespace, then every other
// segment (type, name, child type, name, ...) makes the type.
func resourceTypeOf(path string) (ns, typ string, ok bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	at := -1
	for i, s := range segs {
		if eq(s, "providers") {
			at = i
		}
	}
	if at < 0 || at+2 >= len(segs) {
		return "", "", false
	}
	ns = segs[at+1]
	var types []string
	for i := at + 2; i < len(segs); i += 2 {
		types = append(types, segs[i])
	}
	return ns, strings.Join(types, "/"), true
}

// Accepted api-versions per resource type (newest first, as ARM lists them).
var (
	apiVersionsResources = []string{"2025-04-01", "2025-03-01", "2024-11-01", "2024-07-01", "2024-03-01", "2023-07-01", "2022-09-01", "2021-04-01", "2021-01-01", "2020-10-01", "2020-06-01", "2019-10-01", "2019-08-01", "2019-07-01", "2019-05-10", "2019-05-01", "2018-05-01", "2018-02-01", "2017-05-10", "2016-09-01"}
	// Microsoft.Resources' subscriptions, tenants and locations types.
	apiVersionsSubscriptions = []string{"2022-12-01", "2022-09-01", "2022-01-01", "2021-01-01", "2020-01-01", "2019-11-01", "2019-10-01", "2019-09-01", "2019-08-01", "2019-07-01", "2019-06-01", "2019-05-10", "2019-05-01", "2019-03-01", "2018-09-01", "2018-08-01", "2018-07-01", "2018-06-01", "2018-05-01", "2018-02-01", "2018-01-01", "2017-12-01", "2017-08-01", "2017-06-01", "2017-05-10", "2017-05-01", "2017-03-01", "2016-09-01", "2016-07-01", "2016-06-01", "2016-02-01", "2015-11-01", "2015-01-01", "2014-04-01-preview", "2014-04-01", "2014-01-01"}
	apiVersionsACI           = []string{"2025-09-01", "2024-10-01-preview", "2024-09-01-preview", "2024-05-01-preview", "2023-05-01", "2023-02-01-preview", "2022-10-01-preview", "2022-09-01", "2022-04-01-preview", "2021-10-01", "2021-09-01", "2021-07-01", "2021-03-01", "2020-11-01", "2019-12-01", "2018-10-01"}
)

func checkAPIVersion(r *http.Request, rt route, location string) *apiError {
	v := r.URL.Query().Get("api-version")
	if v == "" {
		return badRequest("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
	}
	var list []string
	var typ string
	resourcesRP := true // Microsoft.Resources answers bad versions itself
	switch rt.kind {
	case kindOperationResults:
		// Operation results carry the api-version of the operation that
		// started them, whichever provider that was.
		return nil
	case kindResourceGroups, kindDeployments, kindDeploymentOperations:
		list = apiVersionsResources
		typ = "resourceGroups"
		if rt.kind != kindResourceGroups {
			typ = "deployments"
		}
	case kindSubscriptions, kindTenants, kindLocations:
		list = apiVersionsSubscriptions
	case kindProviders:
		list = apiVersionsResources
	case kindContainerGroups, kindACIOperations, kindACIUsages:
		resourcesRP = false
		list = apiVersionsACI
		typ = "containerGroups"
		if rt.kind == kindACIOperations {
			typ = "locations/operations"
		} else if rt.kind == kindACIUsages {
			typ = "locations/usages"
		}
	default:
		return nil
	}
	for _, s := range list {
		if eq(s, v) {
			return nil
		}
	}
	if resourcesRP {
		return badRequest("InvalidApiVersionParameter", "The api-version '%s' is invalid. The supported versions are '%s'.", v, strings.Join(list, ","))
	}
	return badRequest("NoRegisteredProviderFound",
		"No registered resource provider found for location '%s' and API version '%s' for type '%s'. The supported api-versions are '%s'. The supported locations are '%s'.",
		location, v, typ, strings.Join(list, ", "), strings.Join(locationsDisplay, ", "))
}

// APIVersionSupported reports whether v is an accepted api-version for ACI
// container groups (used for resources inside deployments).
func aciAPIVersionSupported(v string) bool {
	for _, s := range apiVersionsACI {
		if eq(s, v) {
			return true
		}
	}
	return false
}
