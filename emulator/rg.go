package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
)

// resourceGroup holds the resources the emulator knows in one group.
type resourceGroup struct {
	id, name, location string
	tags               map[string]any
	created            time.Time
	groups             map[string]*containerGroup // lower-cased name
	deployments        map[string]*deployment     // lower-cased name
}

func newResourceGroup(sub, name, location string, tags map[string]any) *resourceGroup {
	return &resourceGroup{
		id:          "/subscriptions/" + sub + "/resourceGroups/" + name,
		name:        name,
		location:    normLocation(location),
		tags:        tags,
		created:     time.Now().UTC(),
		groups:      map[string]*containerGroup{},
		deployments: map[string]*deployment{},
	}
}

func (g *resourceGroup) view() map[string]any {
	v := map[string]any{
		"id":         g.id,
		"name":       g.name,
		"type":       "Microsoft.Resources/resourceGroups",
		"location":   g.location,
		"properties": map[string]any{"provisioningState": "Succeeded"},
	}
	if g.tags != nil {
		v["tags"] = g.tags
	}
	return v
}

var rgNameRE = regexp.MustCompile(`^[-\w\._\(\)]+$`)

func rgNotFound(name string) *apiError {
	return newErr(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
}

// lookupRG returns the resource group or a 404 error.
func (e *Emulator) lookupRG(name string) (*resourceGroup, *apiError) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if g := e.rgs[strings.ToLower(name)]; g != nil {
		return g, nil
	}
	return nil, rgNotFound(name)
}

// groupsOf and deploymentsOf are the two kinds of resource a resource
// group holds, for the lookups and deletions both kinds share.
func groupsOf(rg *resourceGroup) map[string]*containerGroup  { return rg.groups }
func deploymentsOf(rg *resourceGroup) map[string]*deployment { return rg.deployments }

// lookupIn finds a named resource of a resource group: a missing resource
// group is an error, a missing resource is nil. Names are case-insensitive.
func lookupIn[T any](e *Emulator, rgName, name string, kind func(*resourceGroup) map[string]*T) (*resourceGroup, *T, *apiError) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	rg := e.rgs[strings.ToLower(rgName)]
	if rg == nil {
		return nil, nil, rgNotFound(rgName)
	}
	return rg, kind(rg)[strings.ToLower(name)], nil
}

// removeFrom takes a named resource out of its resource group, unless
// refuse (when set) gives a reason not to. A resource that is not there is
// nil with no error: ARM answers a DELETE of it 204.
func removeFrom[T any](e *Emulator, rgName, name string, kind func(*resourceGroup) map[string]*T, refuse func(*T) *apiError) (*T, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rg := e.rgs[strings.ToLower(rgName)]
	if rg == nil {
		return nil, rgNotFound(rgName)
	}
	key := strings.ToLower(name)
	x := kind(rg)[key]
	if x == nil {
		return nil, nil
	}
	if refuse != nil {
		if aerr := refuse(x); aerr != nil {
			return nil, aerr
		}
	}
	delete(kind(rg), key)
	return x, nil
}

// readBody decodes a JSON object body with json.Number numbers.
func readBody(r *http.Request) (map[string]any, *apiError) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return nil, badRequest("InvalidRequestContent", "The request content could not be read: %v.", err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, badRequest("InvalidRequestContent", "The request content was invalid and could not be deserialized: 'The request body is empty.'")
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest("InvalidRequestContent", "The request content was invalid and could not be deserialized: '%s'.", sanitizeJSONError(err))
	}
	if dec.More() {
		return nil, badRequest("InvalidRequestContent", "The request content was invalid and could not be deserialized: 'Additional text found in JSON after the content.'")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("InvalidRequestContent", "The request content was invalid and could not be deserialized: 'The request body must be a JSON object.'")
	}
	return m, nil
}

// sanitizeJSONError keeps the decoder's position but never echoes content,
// which could be a secret.
func sanitizeJSONError(err error) string {
	var se *json.SyntaxError
	if ok := asSyntax(err, &se); ok {
		return "Invalid JSON at offset " + itoa(int(se.Offset))
	}
	return "Invalid JSON"
}

func (e *Emulator) serveResourceGroups(q *armRequest) {
	r := q.r
	switch {
	case q.rt.rg == "" && r.Method == http.MethodGet:
		e.mu.RLock()
		list := make([]any, 0, len(e.rgs))
		names := make([]string, 0, len(e.rgs))
		for k := range e.rgs {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			list = append(list, e.rgs[k].view())
		}
		e.mu.RUnlock()
		q.json(http.StatusOK, map[string]any{"value": list})
	case q.rt.rg == "":
		q.fail(methodNotAllowed(r))
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		g, aerr := e.lookupRG(q.rt.rg)
		if r.Method == http.MethodHead {
			if aerr != nil {
				q.w.WriteHeader(http.StatusNotFound)
			} else {
				q.w.WriteHeader(http.StatusNoContent)
			}
			return
		}
		if aerr != nil {
			q.fail(aerr)
			return
		}
		e.mu.RLock()
		v := g.view()
		e.mu.RUnlock()
		q.json(http.StatusOK, v)
	case r.Method == http.MethodPut:
		e.putResourceGroup(q)
	case r.Method == http.MethodDelete:
		e.deleteResourceGroup(q)
	default:
		q.fail(methodNotAllowed(r))
	}
}

func methodNotAllowed(r *http.Request) *apiError {
	return newErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested method '%s' is not allowed for the request path '%s'.", r.Method, r.URL.Path)
}

func (e *Emulator) putResourceGroup(q *armRequest) {
	name := q.rt.rg
	if len(name) > 90 || !rgNameRE.MatchString(name) || strings.HasSuffix(name, ".") {
		q.fail(badRequest("InvalidResourceGroupName",
			"Resource group name '%s' is invalid. It must be 1-90 characters of letters, digits, underscores, hyphens, periods and parentheses, and must not end in a period.", name))
		return
	}
	body, aerr := readBody(q.r)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	loc, _, aerr := str(body, "location", "")
	if aerr != nil {
		q.fail(aerr)
		return
	}
	if loc == "" {
		q.fail(badRequest("LocationRequired", "The location property is required for this definition."))
		return
	}
	if !validLocation(loc) {
		q.fail(badRequest("LocationNotAvailableForResourceGroup", "The provided location '%s' is not available for resource group. List of available regions is '%s'.",
			loc, strings.ToLower(strings.ReplaceAll(strings.Join(locationsDisplay, ","), " ", ""))))
		return
	}
	tags, aerr := validateTags(body)
	if aerr != nil {
		q.fail(aerr)
		return
	}
	e.mu.Lock()
	g := e.rgs[strings.ToLower(name)]
	status := http.StatusOK
	if g == nil {
		g = newResourceGroup(e.cfg.SubscriptionID, name, loc, tags)
		e.rgs[strings.ToLower(name)] = g
		status = http.StatusCreated
	} else if g.location != normLocation(loc) {
		e.mu.Unlock()
		q.fail(newErr(http.StatusConflict, "InvalidResourceGroupLocation", "Invalid resource group location '%s'. The Resource group already exists in location '%s'.", normLocation(loc), g.location))
		return
	} else {
		g.tags = tags
	}
	v := g.view()
	e.mu.Unlock()
	q.json(status, v)
}

func (e *Emulator) deleteResourceGroup(q *armRequest) {
	e.mu.Lock()
	key := strings.ToLower(q.rt.rg)
	g := e.rgs[key]
	if g == nil {
		e.mu.Unlock()
		q.fail(rgNotFound(q.rt.rg))
		return
	}
	delete(e.rgs, key)
	groups := make([]*containerGroup, 0, len(g.groups))
	for _, cg := range g.groups {
		groups = append(groups, cg)
	}
	for _, d := range g.deployments {
		d.cancelRun()
	}
	e.mu.Unlock()
	for _, cg := range groups {
		cg.remove()
	}
	op := e.newOp(q.rt.sub, g.id, func() (string, *apiError) {
		for _, cg := range groups {
			if !cg.allDone() {
				return "Running", nil
			}
		}
		return "Succeeded", nil
	})
	e.acceptedWithLocation(q, op.id)
}
